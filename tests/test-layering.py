#!/usr/bin/env python3
"""test-layering.py — which folders may include which headers.

    test-layering.py SOURCE_ROOT     check the tree (exit 1 on any violation)
    test-layering.py --self-test     check the checker on fake trees

Every .c/.h under cli/, plugin/, ui/ and core/ is scanned for `#include "..."`
lines.  A header is found by its path relative to the including file when
that exists, else by its name in a map built from the tree (header name ->
folders holding it; the including file's own folder first, then include/).
Rules, one line per violation (file:line: [rule] what and why):

  front-end-core     a file in cli/, plugin/ or ui/ includes a header under
                     core/ (front ends use the public headers, include/*.h)
  layer-order        a core file includes a header of a core layer folder
                     that is not below its own.  Lower first: core/common (0),
                     core/io and core/formats (1, peers that may not include
                     each other), core/nn (2), core/model (3),
                     core/sampling (4), core/job (5); a folder may include
                     its own headers and those of strictly lower ranks
  unknown-layer      a core folder that is not in that order (a new folder
                     must be placed in it on purpose), and includes of its
                     headers from core
  core-front-end     a core file includes a header of cli/, plugin/ or ui/
  ui-plugin          a ui/ file includes a plugin/ header (the direction is
                     plugin -> ui: the plug-in uses the dialogs, not back)
  cli-front-end      a cli/ file includes a plugin/ or ui/ header
  front-end-cli      a plugin/ or ui/ file includes a cli/ header

Public headers (include/*.h) may be included from anywhere.  Python 3
standard library only.
"""

import os
import re
import subprocess
import sys
import tempfile

SCANNED = ("cli", "plugin", "ui", "core")
PUBLIC = "include"
FRONT_ENDS = ("cli", "plugin", "ui")
LAYERS = {
    "core/common": 0,
    "core/io": 1,
    "core/formats": 1,
    "core/nn": 2,
    "core/model": 3,
    "core/sampling": 4,
    "core/job": 5,
}
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')
SOURCE = (".c", ".h")


def area_of(folder):
    """The unit a folder belongs to: 'include', 'cli', 'plugin', 'ui', or
    'core/<layer>' ('core' itself for files directly in core/)."""
    parts = folder.split("/")
    if parts[0] == "core":
        return "/".join(parts[:2])
    return parts[0]


def source_files(root, tops):
    """Relative paths of the .c/.h files under the given top folders, sorted."""
    found = []
    for top in tops:
        base = os.path.join(root, top)
        if not os.path.isdir(base):
            continue
        for folder, dirs, files in os.walk(base):
            dirs.sort()
            for name in files:
                if name.endswith(SOURCE):
                    path = os.path.relpath(os.path.join(folder, name), root)
                    found.append(path.replace(os.sep, "/"))
    return sorted(found)


def header_map(root):
    """Header name -> sorted list of folders (relative) holding it."""
    headers = {}
    for path in source_files(root, SCANNED + (PUBLIC,)):
        if path.endswith(".h"):
            folder, name = path.rsplit("/", 1)
            headers.setdefault(name, set()).add(folder)
    return {name: sorted(folders) for name, folders in headers.items()}


def resolve(root, path, included, headers):
    """Folders the included header may live in ([] when not in the tree,
    e.g. a generated config.h)."""
    folder = path.rsplit("/", 1)[0]
    relative = os.path.normpath(os.path.join(folder, included)).replace(os.sep, "/")
    if not relative.startswith("../") and os.path.isfile(os.path.join(root, relative)):
        return [relative.rsplit("/", 1)[0]] if "/" in relative else ["."]
    candidates = headers.get(included.rsplit("/", 1)[-1], [])
    if folder in candidates:
        return [folder]
    if PUBLIC in candidates:
        return [PUBLIC]
    return candidates


def rule_for(source_area, target_area):
    """(rule, reason) when a file of source_area may not include a header of
    target_area, else None."""
    if target_area == PUBLIC or target_area == source_area:
        return None
    if source_area in FRONT_ENDS:
        if target_area.startswith("core"):
            return ("front-end-core",
                    "front ends include only public headers (include/), not core/")
        if source_area == "ui" and target_area == "plugin":
            return ("ui-plugin", "ui/ may not include plugin/ headers (the direction is plugin -> ui)")
        if source_area == "cli" and target_area in ("plugin", "ui"):
            return ("cli-front-end", "cli/ may not include plugin/ or ui/ headers")
        if target_area == "cli":
            return ("front-end-cli", "plugin/ and ui/ may not include cli/ headers")
        return None
    # source_area is core/<layer>
    if target_area in FRONT_ENDS:
        return ("core-front-end", "core/ may not include front-end (cli/, plugin/, ui/) headers")
    if target_area not in LAYERS:
        return ("unknown-layer",
                "%s is not in the layer order (place it in test-layering.py's LAYERS)"
                % target_area)
    if source_area not in LAYERS:
        return None  # the folder itself is reported once
    mine, theirs = LAYERS[source_area], LAYERS[target_area]
    if theirs < mine:
        return None
    if theirs == mine:
        return ("layer-order", "%s and %s are peers (rank %d) and may not include each other"
                % (source_area, target_area, mine))
    return ("layer-order", "%s (rank %d) may not include the higher layer %s (rank %d)"
            % (source_area, mine, target_area, theirs))


def check(root):
    """(number of files scanned, list of violations as (file, line, rule, message))."""
    headers = header_map(root)
    files = source_files(root, SCANNED)
    violations = []
    unknown_reported = set()
    for path in files:
        folder = path.rsplit("/", 1)[0]
        source_area = area_of(folder)
        if source_area.startswith("core") and source_area not in LAYERS:
            if source_area not in unknown_reported:
                unknown_reported.add(source_area)
                violations.append((path, 1, "unknown-layer",
                                   "core folder %s is not in the layer order (place it in "
                                   "test-layering.py's LAYERS)" % source_area))
        with open(os.path.join(root, path), encoding="utf-8", errors="replace") as text:
            for number, line in enumerate(text, 1):
                match = INCLUDE.match(line)
                if not match:
                    continue
                included = match.group(1)
                for target in resolve(root, path, included, headers):
                    broken = rule_for(source_area, area_of(target))
                    if broken:
                        rule, reason = broken
                        violations.append((path, number, rule, '#include "%s" (%s/): %s'
                                           % (included, target, reason)))
                        break
    return len(files), violations


def report(root):
    count, violations = check(root)
    for path, line, rule, message in violations:
        print("%s:%d: [%s] %s" % (path, line, rule, message))
    print("layering: %d files, %d violation%s" % (count, len(violations),
                                                  "" if len(violations) == 1 else "s"))
    return 1 if violations else 0


# ---- self-test --------------------------------------------------------------

def write_tree(root, files):
    for path, text in files.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as out:
            out.write(text)


def includes(*names):
    return "".join('#include "%s"\n' % name for name in names)


# Every include here is allowed.
CLEAN = {
    "include/ddim.h": "",
    "include/ddim-job.h": includes("ddim.h"),
    "core/common/error.c": includes("ddim.h"),
    "core/common/common.h": includes("ddim.h"),
    "core/io/npy.c": includes("ddim.h", "common.h", "io-util.h"),
    "core/io/io-util.h": "",
    "core/formats/safetensors.h": includes("common.h"),
    "core/formats/json.c": includes("safetensors.h", "common.h"),
    "core/nn/unet.h": includes("safetensors.h", "io-util.h"),
    "core/nn/unet.c": includes("unet.h", "common.h", "config.h"),  # config.h: generated
    "core/model/model.h": includes("unet.h", "safetensors.h"),
    "core/sampling/tiles.h": includes("model.h"),
    "core/sampling/sampler.c": includes("tiles.h", "model.h", "unet.h", "common.h"),
    "core/job/job.c": includes("ddim-job.h", "tiles.h", "model.h", "unet.h", "io-util.h"),
    "cli/cli.h": includes("ddim-job.h"),
    "cli/ddim.c": includes("cli.h", "ddim.h"),
    "plugin/plugin.h": includes("ddim-job.h"),
    "plugin/run.c": includes("plugin.h", "dialogs.h", "../ui/dialogs.h"),
    "ui/dialogs.h": includes("ddim-job.h"),
    "ui/dialogs.c": includes("dialogs.h", "ddim.h"),
}

# One violation of each rule: (file, line, rule).
BROKEN = {
    "cli/bad.c": (includes("cli.h", "unet.h"), 2, "front-end-core"),
    "plugin/bad.c": (includes("model.h"), 1, "front-end-core"),
    "ui/bad-core.c": (includes("../core/sampling/tiles.h"), 1, "front-end-core"),
    "core/nn/bad.c": (includes("unet.h", "model.h"), 2, "layer-order"),
    "core/common/bad.c": (includes("tiles.h"), 1, "layer-order"),
    "core/io/bad.c": (includes("safetensors.h"), 1, "layer-order"),
    "core/formats/bad.c": (includes("io-util.h"), 1, "layer-order"),
    "core/sampling/bad.c": (includes("job-internal.h"), 1, "layer-order"),
    "core/extra/extra.h": (includes("ddim.h"), 1, "unknown-layer"),
    "core/model/bad.c": (includes("extra.h"), 1, "unknown-layer"),
    "core/job/bad.c": (includes("plugin.h"), 1, "core-front-end"),
    "ui/bad.c": (includes("dialogs.h", "plugin.h"), 2, "ui-plugin"),
    "cli/bad-ui.c": (includes("dialogs.h"), 1, "cli-front-end"),
    "plugin/bad-cli.c": (includes("cli.h"), 1, "front-end-cli"),
    "ui/bad-cli.c": (includes("cli.h"), 1, "front-end-cli"),
}
BROKEN_EXTRA = {
    "core/job/job-internal.h": "",
}


def self_test():
    failures = []

    def expect(condition, what):
        if not condition:
            failures.append(what)

    def run_script(root):
        done = subprocess.run([sys.executable, os.path.abspath(__file__), root],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True)
        return done.returncode, done.stdout

    with tempfile.TemporaryDirectory(prefix="layering-") as clean:
        write_tree(clean, CLEAN)
        count, violations = check(clean)
        expect(count == len([p for p in CLEAN if not p.startswith(PUBLIC + "/")]),
               "clean tree: %d files scanned" % count)
        expect(violations == [], "clean tree: %r" % violations)
        status, output = run_script(clean)
        expect(status == 0, "clean tree: exit status %d\n%s" % (status, output))
        expect(" 0 violations" in output, "clean tree: summary\n%s" % output)

    with tempfile.TemporaryDirectory(prefix="layering-") as broken:
        tree = dict(CLEAN)
        tree.update(BROKEN_EXTRA)
        tree.update({path: text for path, (text, _, _) in BROKEN.items()})
        write_tree(broken, tree)
        _, violations = check(broken)
        found = {(path, line, rule) for path, line, rule, _ in violations}
        for path, (_, line, rule) in sorted(BROKEN.items()):
            expect((path, line, rule) in found, "not reported: %s:%d [%s]" % (path, line, rule))
        expected = {(path, line, rule) for path, (_, line, rule) in BROKEN.items()}
        for extra in sorted(found - expected):
            failures.append("reported wrongly: %s:%d [%s]" % extra)
        expect(len(violations) == len(expected),
               "%d violations reported, %d expected" % (len(violations), len(expected)))
        status, output = run_script(broken)
        expect(status == 1, "broken tree: exit status %d" % status)
        for path, (_, line, rule) in BROKEN.items():
            expect("%s:%d: [%s]" % (path, line, rule) in output,
                   "broken tree: no line for %s:%d [%s]" % (path, line, rule))

    for failure in failures:
        print("FAIL: " + failure)
    print("layering self-test: %d rules checked, %d failure%s"
          % (len(BROKEN), len(failures), "" if len(failures) == 1 else "s"))
    return 1 if failures else 0


def main(argv):
    if len(argv) == 2 and argv[1] == "--self-test":
        return self_test()
    if len(argv) == 2 and os.path.isdir(argv[1]):
        return report(argv[1])
    print("usage: %s SOURCE_ROOT | --self-test" % argv[0], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
