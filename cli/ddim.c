/* ddim.c — the ddim command: DDIM sampling, inversion, reconstruction,
 * variation and interpolation with a diffusers UNet2DModel on the CPU.
 * This file holds the subcommand table, the options and main(); the
 * subcommands run in commands-*.c (see cli.h).
 *
 * Every failure prints one line "ddim: <message>" on stderr and exits with
 * status 1; success exits 0. */
#include "cli-args.h"
#include "cli-images.h"
#include "cli.h"
#include "ddim-convert.h"
#include "ddim-io.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef DDIM_VERSION
#define DDIM_VERSION "unknown"
#endif
#ifndef DDIM_MODEL_INSTALL_DIR
#define DDIM_MODEL_INSTALL_DIR "/usr/local/share/ddim/models"
#endif
#ifndef DDIM_SOURCE_MODEL_DIR
#define DDIM_SOURCE_MODEL_DIR "models"
#endif
#define DEFAULT_MODEL_NAME "emoji32"

/* ---- Running a job -------------------------------------------------------- */

void cli_job_init(Cli *cli, DdimJob *job, DdimWorkflow workflow, DdimShape image) {
  ddim_job_init(job, workflow, cli->model);
  job->params = cli->params;
  job->image = image;
  job->image.n = 1;
}

/* After every network evaluation: the bar on stderr (with the batch when a
 * phase runs in several), and the preview PNG when one is due (a failed
 * write stops the run). */
static gboolean report_progress(const DdimJobProgress *report, gpointer data) {
  Cli *cli = data;
  g_autofree char *label =
      report->batch_count < report->images
          ? g_strdup_printf("images %d-%d of %d", report->batch_first + 1,
                            report->batch_first + report->batch_count, report->images)
          : NULL;
  if (g_strcmp0(label, cli->progress.label) != 0) cli_progress_set_label(&cli->progress, label);
  cli_progress_report(report->step, &cli->progress);
  return cli_preview_report(&cli->preview, report->step);
}

gboolean cli_run_job(Cli *cli, const DdimJob *job, DdimJobResult *result, GError **error) {
  DdimJob with_progress = *job;
  with_progress.progress = report_progress;
  with_progress.progress_data = cli;
  gboolean ok = ddim_job_run(cli->model, &with_progress, result, error);
  cli_progress_finish(&cli->progress);
  return ok;
}

/* The seed matters only for noise: generated x_T, SDEdit, or η > 0. */
gboolean cli_check_job(Cli *cli, const DdimJob *job, gboolean uses_noise, GError **error) {
  if (!ddim_job_check(cli->model, job, error)) return FALSE;
  if (!cli->seed_given && (uses_noise || cli->params.eta > 0.0))
    g_printerr("seed=%" G_GUINT64_FORMAT "\n", cli->params.seed);
  return TRUE;
}

gboolean cli_require_output(Cli *cli, gboolean png_allowed, GError **error) {
  if (cli->output == NULL) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT, "%s needs an output file: -o %s",
                cli->command->name, png_allowed ? "OUT.png or -o OUT.npy" : "OUT.npy");
    return FALSE;
  }
  return cli_check_output(cli->output, png_allowed, 0, error);
}

/* ---- The command line --------------------------------------------------- */

static const char model_note[] =
    "MODEL is a diffusers UNet2DModel folder (config.json and "
    "diffusion_pytorch_model.safetensors\n"
    "or .bin), a pipeline folder holding unet/, or a weights file: .safetensors, a PyTorch\n"
    ".bin/.ckpt/.pt (read without running any code; original DDPM/DDIM checkpoints too) or a\n"
    "shard index.  --config FILE|NAME forces the network config (NAME: cifar10, celeba, lsun).\n"
    "MODEL may be left out when $DDIM_MODEL names one or the default model (" DEFAULT_MODEL_NAME
    ")\nis installed.\n"
    "Images are .png or .npy (float32 (C,H,W) or (N,C,H,W) in [-1, 1]); latents are .npy.";

static const CliCommand commands[] = {
    {"info", "MODEL", 1, 0, 1.0, "Describe a model: size, channels, schedule, files, memory.", NULL,
     cli_run_info},
    {"eps", "MODEL X.npy", 2, OPT_OUTPUT | OPT_TIMESTEP, 1.0,
     "Evaluate the network once: write eps(X, T) for every image of X.npy.",
     "The output has the same rank as the input.", cli_run_eps},
    {"generate", "MODEL", 1, OPT_SAMPLING | OPT_OUTPUT | OPT_GENERATE | OPT_MASK, 1.0,
     "Sample new images from Gaussian noise.",
     "With --count K, OUT may hold %d or %03d for the image number; otherwise -000, -001, ...\n"
     "goes before the extension.  A .npy OUT holds all K images in one (K,C,H,W) file.\n"
     "Images are sampled in batches of up to 64, as many as memory allows.",
     cli_run_generate},
    {"encode", "MODEL IN", 2, OPT_SAMPLING | OPT_OUTPUT | OPT_STRENGTH | OPT_RESIZE, 1.0,
     "Invert an image to its DDIM latent x_T (deterministic).",
     "--strength F stops the inversion at that fraction of the schedule.", cli_run_encode},
    {"decode", "MODEL XT.npy", 2, OPT_SAMPLING | OPT_OUTPUT | OPT_STRENGTH | OPT_MASK, 1.0,
     "Sample images from latents (e.g. from encode or --save-xt).",
     "--strength F starts from that fraction of the schedule, to match an encode with it.",
     cli_run_decode},
    {"reconstruct", "MODEL IN", 2, OPT_SAMPLING | OPT_OUTPUT | OPT_STRENGTH | OPT_RESIZE, 1.0,
     "Encode an image and decode it again; print how close the result is.",
     "The last line printed is 'mse=<v> psnr=<dB>', measured on the [0, 1] scale in model\n"
     "space before 8-bit quantisation.  The encode never clips.",
     cli_run_reconstruct},
    {"vary", "MODEL IN", 2, OPT_SAMPLING | OPT_OUTPUT | OPT_STRENGTH | OPT_RESIZE | OPT_MASK, 0.5,
     "Make a variation of an image (SDEdit): add noise up to --strength, then denoise.",
     "--strength F (default 0.5): 0 keeps the image, 1 replaces it entirely.", cli_run_vary},
    {"interpolate", "MODEL A B", 3, OPT_SAMPLING | OPT_OUTPUT | OPT_RESIZE | OPT_FRAMES, 1.0,
     "Encode two images and decode K frames along the spherical path between their latents.",
     "The frames include both ends.  OUT names them like generate --count does.",
     cli_run_interpolate},
    {"convert", "MODEL", 1, OPT_OUTPUT | OPT_DTYPE, 1.0,
     "Write a model (e.g. a PyTorch .bin/.ckpt) as a diffusers safetensors folder.",
     "-o OUT_DIR receives config.json, diffusion_pytorch_model.safetensors and\n"
     "scheduler_config.json; the folder then opens without unpickling anything and gives\n"
     "bit-identical results.  --dtype f32 (default) stores float32, --dtype source keeps\n"
     "each tensor's stored dtype.",
     cli_run_convert},
};

static gboolean on_clip_option(const char *option_name, const char *value, gpointer data,
                               GError **error) {
  (void)value;
  (void)error;
  Cli *cli = data;
  cli->clip = strcmp(option_name, "--clip") == 0 ? 1 : 0;
  return TRUE;
}

/* The option table of one subcommand.  Option values are taken as bytes
 * (G_OPTION_ARG_FILENAME), not as G_OPTION_ARG_STRING: GOption converts a
 * string from the locale's encoding, which in the C locale fails on any
 * non-ASCII byte with "Invalid byte sequence in conversion input", naming
 * neither the option nor the value ("--size 10×10").  Every value is ASCII
 * syntax that our own parsers check (cli_parse_size also takes the UTF-8 ×),
 * and their messages name the option and quote the value. */
static GOptionEntry *command_entries(Cli *cli) {
  guint options = cli->command->options;
  GArray *entries = g_array_new(TRUE, TRUE, sizeof(GOptionEntry));
#define ADD(long_name, short_name, flags, arg, data, description, arg_description)                 \
  do {                                                                                             \
    GOptionEntry entry = {long_name, short_name, flags, arg, data, description, arg_description};  \
    g_array_append_val(entries, entry);                                                            \
  } while (0)
  if (options & OPT_OUTPUT)
    ADD("output", 'o', 0, G_OPTION_ARG_FILENAME, &cli->output, "Write the result to OUT", "OUT");
  if (options & OPT_TIMESTEP)
    ADD("timestep", 0, 0, G_OPTION_ARG_FILENAME, &cli->timestep_text,
        "The timestep to evaluate at, from 0 to T-1", "T");
  if (options & OPT_GENERATE) {
    ADD("count", 0, 0, G_OPTION_ARG_FILENAME, &cli->count_text,
        "Number of images to generate (default 1)", "K");
    ADD("size", 0, 0, G_OPTION_ARG_FILENAME, &cli->size_text,
        "Image size (default: the model's own)", "WxH");
    ADD("xt", 0, 0, G_OPTION_ARG_FILENAME, &cli->xt_path,
        "Start from these latents instead of fresh noise", "XT.npy");
    ADD("save-xt", 0, 0, G_OPTION_ARG_FILENAME, &cli->save_xt_path,
        "Also write the starting noise x_T", "XT.npy");
  }
  if (options & OPT_DTYPE)
    ADD("dtype", 0, 0, G_OPTION_ARG_FILENAME, &cli->dtype_text,
        "Tensor dtype of the converted weights: f32 (default) or source", "DTYPE");
  if (options & OPT_FRAMES)
    ADD("frames", 0, 0, G_OPTION_ARG_FILENAME, &cli->frames_text,
        "Number of frames, both ends included (2 or more)", "K");
  if (options & OPT_STRENGTH)
    ADD("strength", 0, 0, G_OPTION_ARG_FILENAME, &cli->strength_text,
        "Fraction of the schedule to run, in (0, 1]", "F");
  if (options & OPT_RESIZE)
    ADD("resize", 0, 0, G_OPTION_ARG_NONE, &cli->resize,
        "Scale a PNG to the model's size, and the result back to the PNG's", NULL);
  if (options & OPT_MASK) {
    ADD("mask", 0, 0, G_OPTION_ARG_FILENAME, &cli->mask_path,
        "Regenerate only where MASK is set (PNG or .npy, the image's size; 0 keeps, 1 "
        "regenerates, values between blend)",
        "MASK");
    ADD("mask-keep", 0, 0, G_OPTION_ARG_FILENAME, &cli->mask_keep_text,
        "What the kept region follows: forward (its forward-noised version, default) or "
        "inversion (its DDIM inversion)",
        "HOW");
    if (strcmp(cli->command->name, "vary") != 0)
      ADD("image", 0, 0, G_OPTION_ARG_FILENAME, &cli->known_path,
          "With --mask: the image whose pixels outside the mask are kept", "IN");
  }
  if (options & OPT_SAMPLING) {
    ADD("tile", 0, 0, G_OPTION_ARG_FILENAME, &cli->tile_text,
        "Tile side in pixels for images larger than a tile (default 0: the model's resolution, "
        "untiled up to it)",
        "N");
    ADD("overlap", 0, 0, G_OPTION_ARG_FILENAME, &cli->overlap_text,
        "Pixels neighbouring tiles share (default: a quarter tile)", "N");
    ADD("steps", 0, 0, G_OPTION_ARG_FILENAME, &cli->steps_text, "Number of DDIM steps (default 50)",
        "N");
    ADD("eta", 0, 0, G_OPTION_ARG_FILENAME, &cli->eta_text,
        "Noise of each step: 0 deterministic DDIM (default) to 1 DDPM-like", "E");
    ADD("schedule", 0, 0, G_OPTION_ARG_FILENAME, &cli->schedule_text,
        "Timesteps: uniform (default), quadratic, trailing or linspace", "NAME");
    ADD("clip", 0, G_OPTION_FLAG_NO_ARG, G_OPTION_ARG_CALLBACK, on_clip_option,
        "Clip the predicted x0 (default: the scheduler config's clip_sample)", NULL);
    ADD("no-clip", 0, G_OPTION_FLAG_NO_ARG, G_OPTION_ARG_CALLBACK, on_clip_option,
        "Do not clip the predicted x0", NULL);
    ADD("seed", 0, 0, G_OPTION_ARG_FILENAME, &cli->seed_text,
        "Seed of the noise; image k uses N+k (default: random, printed as seed=N)", "N");
    ADD("preview-every", 0, 0, G_OPTION_ARG_FILENAME, &cli->preview_every_text,
        "Every N network evaluations (and after the last), write the predicted image x0 "
        "(first of the batch) to the --preview PNG (default 0: never)",
        "N");
    ADD("preview", 0, 0, G_OPTION_ARG_FILENAME, &cli->preview_path,
        "The preview PNG (default: OUT with -preview.png for its extension, e.g. "
        "out-preview.png)",
        "FILE");
  }
  ADD("config", 0, 0, G_OPTION_ARG_FILENAME, &cli->config,
      "Network config: a config.json, or cifar10, celeba or lsun (official DDPM/DDIM)",
      "FILE|NAME");
  ADD("threads", 0, 0, G_OPTION_ARG_FILENAME, &cli->threads_text,
      "Number of threads (default: all cores)", "N");
  ADD("convolutions", 0, 0, G_OPTION_ARG_FILENAME, &cli->convolutions_text,
      "How the large 3×3 convolutions run: default (Winograd F(2×2,3×3), as accurate "
      "as direct), direct, or fast (Winograd F(4×4,3×3): faster, about two digits less precise)",
      "HOW");
  ADD("max-memory", 0, 0, G_OPTION_ARG_FILENAME, &cli->max_memory_text,
      "Refuse runs that need more memory than SIZE (e.g. 2G)", "SIZE");
  ADD(G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &cli->positionals, NULL, NULL);
#undef ADD
  return (GOptionEntry *)(void *)g_array_free(entries, FALSE);
}

static gboolean parse_command_line(Cli *cli, int argc, char **argv, GError **error) {
  const CliCommand *command = cli->command;
  g_autofree char *program = g_strdup_printf("ddim %s", command->name);
  g_set_prgname(program);
  /* MODEL may be left out (the default model), so the usage shows it optional. */
  g_autofree char *usage = g_strconcat("[MODEL]", command->arguments + strlen("MODEL"), NULL);
  g_autoptr(GOptionContext) context = g_option_context_new(usage);
  GOptionGroup *group =
      g_option_group_new(command->name, command->summary, command->summary, cli, NULL);
  g_autofree GOptionEntry *entries = command_entries(cli);
  g_option_group_add_entries(group, entries);
  g_option_context_set_main_group(context, group);
  g_option_context_set_summary(context, command->summary);
  g_autofree char *description = command->description
                                     ? g_strconcat(command->description, "\n\n", model_note, NULL)
                                     : g_strdup(model_note);
  g_option_context_set_description(context, description);

  /* argv[0] of the subcommand is "ddim NAME". */
  g_auto(GStrv) args = g_new0(char *, argc + 1);
  args[0] = g_strdup(program);
  for (int i = 2; i < argc; i++) args[i - 1] = g_strdup(argv[i]);
  GError *parse_error = NULL;
  if (!g_option_context_parse_strv(context, &args, &parse_error)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT, "%s (see 'ddim %s --help')",
                parse_error->message, command->name);
    g_error_free(parse_error);
    return FALSE;
  }
  return TRUE;
}

static char *default_model(GError **error) {
  const char *from_environment = g_getenv("DDIM_MODEL");
  if (from_environment && *from_environment) return g_strdup(from_environment);
  const char *candidates[] = {DDIM_MODEL_INSTALL_DIR "/" DEFAULT_MODEL_NAME,
                              DDIM_SOURCE_MODEL_DIR "/" DEFAULT_MODEL_NAME};
  for (guint i = 0; i < G_N_ELEMENTS(candidates); i++)
    if (g_file_test(candidates[i], G_FILE_TEST_EXISTS)) return g_strdup(candidates[i]);
  g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
              "no MODEL given and no default model: set DDIM_MODEL or install %s", candidates[0]);
  return NULL;
}

/* Turns the option texts into values, then loads the model. */
static gboolean set_up(Cli *cli, GError **error) {
  const CliCommand *command = cli->command;
  /* Threads first: everything after may already use them. */
  if (cli->threads_text) {
    int threads;
    if (!cli_parse_int(cli->threads_text, "--threads", 0, 4096, &threads, error)) return FALSE;
    ddim_set_threads(threads);
  }
  DdimParams *params = &cli->params;
  ddim_params_init(params);
  params->clip = cli->clip;
  params->strength = command->default_strength;
  if (cli->steps_text &&
      !cli_parse_int(cli->steps_text, "--steps", 1, G_MAXINT, &params->steps, error))
    return FALSE;
  if (cli->eta_text && !cli_parse_double(cli->eta_text, "--eta", 0.0, 1.0, &params->eta, error))
    return FALSE;
  if (cli->strength_text &&
      !cli_parse_double(cli->strength_text, "--strength", 0.0, 1.0, &params->strength, error))
    return FALSE;
  if (params->strength <= 0.0) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "--strength: must be above 0 (and at most 1)");
    return FALSE;
  }
  if (cli->schedule_text && !ddim_schedule_from_name(cli->schedule_text, &params->schedule)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "--schedule: unknown schedule '%s' (use uniform, quadratic, trailing or "
                "linspace)",
                cli->schedule_text);
    return FALSE;
  }
  cli->seed_given = cli->seed_text != NULL;
  if (cli->seed_given) {
    if (!cli_parse_uint64(cli->seed_text, "--seed", &params->seed, error)) return FALSE;
  } else {
    /* 32 bits: short enough to retype from the printed seed=N. */
    params->seed = g_random_int();
  }
  if (cli->max_memory_text &&
      !cli_parse_memory(cli->max_memory_text, "--max-memory", &cli->max_memory, error))
    return FALSE;
  if (cli->tile_text && !cli_parse_int(cli->tile_text, "--tile", 0, 16384, &params->tile, error))
    return FALSE;
  if (cli->overlap_text &&
      !cli_parse_int(cli->overlap_text, "--overlap", 0, 16384, &params->overlap, error))
    return FALSE;
  if (cli->mask_keep_text && !ddim_mask_keep_from_name(cli->mask_keep_text, &params->mask_keep)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "--mask-keep: unknown value '%s' (use inversion or forward)", cli->mask_keep_text);
    return FALSE;
  }

  int given = cli->positionals ? (int)g_strv_length(cli->positionals) : 0;
  if (given == command->argument_count) {
    cli->model_path = g_strdup(cli->positionals[0]);
    cli->inputs = (const char *const *)cli->positionals + 1;
  } else if (given == command->argument_count - 1) {
    cli->model_path = default_model(error);
    if (cli->model_path == NULL) return FALSE;
    cli->inputs = (const char *const *)cli->positionals;
  } else {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "%s takes %s, not %d argument%s (see 'ddim %s --help')", command->name,
                command->arguments, given, given == 1 ? "" : "s", command->name);
    return FALSE;
  }

  cli->model = ddim_model_load_with_config(cli->model_path, cli->config, error);
  if (cli->model == NULL) return FALSE;
  cli->info = ddim_model_get_info(cli->model);
  if (cli->max_memory) ddim_model_set_memory_limit(cli->model, cli->max_memory);
  if (cli->convolutions_text) {
    DdimConvolutions convolutions;
    if (!ddim_convolutions_from_name(cli->convolutions_text, &convolutions)) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                  "--convolutions: '%s' is not default, direct or fast", cli->convolutions_text);
      return FALSE;
    }
    ddim_model_set_convolutions(cli->model, convolutions);
  }
  cli_progress_init(&cli->progress);
  if (!cli_preview_init(&cli->preview, cli->preview_every_text, cli->preview_path, cli->output,
                        error))
    return FALSE;
  return TRUE;
}

static void cli_clear(Cli *cli) {
  g_free(cli->output);
  g_free(cli->xt_path);
  g_free(cli->save_xt_path);
  g_free(cli->steps_text);
  g_free(cli->eta_text);
  g_free(cli->schedule_text);
  g_free(cli->seed_text);
  g_free(cli->threads_text);
  g_free(cli->max_memory_text);
  g_free(cli->convolutions_text);
  g_free(cli->count_text);
  g_free(cli->size_text);
  g_free(cli->strength_text);
  g_free(cli->timestep_text);
  g_free(cli->frames_text);
  g_free(cli->config);
  g_free(cli->dtype_text);
  g_free(cli->preview_every_text);
  g_free(cli->preview_path);
  cli_preview_clear(&cli->preview);
  g_free(cli->tile_text);
  g_free(cli->overlap_text);
  g_free(cli->mask_path);
  g_free(cli->mask_keep_text);
  g_free(cli->known_path);
  g_strfreev(cli->positionals);
  g_free(cli->model_path);
  g_clear_pointer(&cli->model, ddim_model_free);
  cli_progress_clear(&cli->progress);
}

static void print_usage(void) {
  g_autoptr(GString) text = g_string_new(NULL);
  g_string_append_printf(
      text, "Usage: ddim SUBCOMMAND [OPTION...] MODEL ...\n\n"
            "DDIM sampling with a diffusers UNet2DModel on the CPU.\n\nSubcommands:\n");
  for (guint i = 0; i < G_N_ELEMENTS(commands); i++)
    g_string_append_printf(text, "  %-12s %s\n", commands[i].name, commands[i].summary);
  g_string_append_printf(
      text,
      "\nCommon options: --steps N (50) --eta E (0) --schedule NAME (uniform) --seed N\n"
      "  --clip/--no-clip --tile N --overlap N --threads N --max-memory SIZE --convolutions HOW\n"
      "  --config FILE|NAME\n"
      "  --preview-every N --preview FILE (x0 as a PNG during a run; default OUT-preview.png)\n\n"
      "'ddim SUBCOMMAND --help' describes a subcommand; 'ddim --version' prints the "
      "version.\n\n%s\n",
      model_note);
  g_print("%s", text->str);
}

/* An error message fit for one line of a terminal: text quoted from a
 * hostile file (a tensor name, a dtype, a path) may hold newlines or escape
 * sequences, and may be megabytes long. */
#define MAX_MESSAGE_CHARS 1000
static char *printable_message(const char *message) {
  g_autofree char *valid = g_utf8_make_valid(message, -1);
  GString *out = g_string_new(NULL);
  const char *p = valid;
  for (glong chars = 0; *p && chars < MAX_MESSAGE_CHARS; p = g_utf8_next_char(p), chars++) {
    gunichar c = g_utf8_get_char(p);
    if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0))
      g_string_append_printf(out, "\\x%02x", (unsigned)c);
    else
      g_string_append_unichar(out, c);
  }
  if (*p) g_string_append(out, "…");
  return g_string_free(out, FALSE);
}

static const CliCommand *find_command(const char *name) {
  for (guint i = 0; i < G_N_ELEMENTS(commands); i++)
    if (strcmp(commands[i].name, name) == 0) return &commands[i];
  return NULL;
}

/* Whether main failed already (and said why): then a lost standard output
 * adds no second message. */
static gboolean exit_failed;
/* The errno of the first failed write to standard output, 0 if none. */
static int stdout_errno;

/* Everything the command prints to standard output goes through g_print
 * (GOption's --help too).  GLib's own handler flushes after every call and
 * ignores failures; this one keeps stdout buffered and remembers why a
 * write failed, for check_standard_output. */
static void print_to_stdout(const char *text) {
  /* In the locale's character set, as GLib's handler writes it. */
  const char *charset;
  g_autofree char *converted =
      g_get_console_charset(&charset)
          ? NULL
          : g_convert_with_fallback(text, -1, charset, "UTF-8", "?", NULL, NULL, NULL);
  if (fputs(converted ? converted : text, stdout) == EOF && stdout_errno == 0)
    stdout_errno = errno ? errno : EIO;
}

/* At exit (after return from main, or GOption's exit after --help): output
 * that could not be written is a failure, not a silent success
 * ("ddim info > /dev/full").  Standard output is flushed, not closed: a
 * command that printed nothing succeeds with it closed. */
static void check_standard_output(void) {
  if (fflush(stdout) != 0 && stdout_errno == 0) stdout_errno = errno ? errno : EIO;
  if (stdout_errno == 0 && ferror(stdout)) stdout_errno = EIO;
  if (stdout_errno == 0) return;
  if (!exit_failed) g_printerr("ddim: standard output: %s\n", g_strerror(stdout_errno));
  _exit(1);
}

static int finish(gboolean ok) {
  exit_failed = !ok;
  return ok ? 0 : 1;
}

int main(int argc, char **argv) {
  setlocale(LC_ALL, "");
  g_set_print_handler(print_to_stdout);
  atexit(check_standard_output);
  /* Outputs are complete or absent after Ctrl-C, a kill or a hang-up, and a
   * file-size limit is a write error rather than a kill (ddim-io.h). */
  ddim_io_remove_partial_files_on_signals();
  if (argc < 2) {
    g_printerr("ddim: no subcommand given (see 'ddim --help')\n");
    return finish(FALSE);
  }
  const char *name = argv[1];
  if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "-?") == 0 ||
      (strcmp(name, "help") == 0 && argc == 2)) {
    print_usage();
    return finish(TRUE);
  }
  if (strcmp(name, "--version") == 0) {
    g_print("ddim %s\n", DDIM_VERSION);
    return finish(TRUE);
  }
  /* "ddim help SUBCOMMAND" is "ddim SUBCOMMAND --help". */
  char *help_argv[] = {argv[0], argc > 2 ? argv[2] : NULL, "--help", NULL};
  if (strcmp(name, "help") == 0) {
    argv = help_argv;
    argc = 3;
    name = argv[1];
  }
  Cli cli = {.command = find_command(name), .clip = -1};
  if (cli.command == NULL) {
    g_printerr("ddim: unknown subcommand '%s' (see 'ddim --help')\n", name);
    return finish(FALSE);
  }
  GError *error = NULL;
  gboolean ok = parse_command_line(&cli, argc, argv, &error) && set_up(&cli, &error) &&
                cli.command->run(&cli, &error);
  if (!ok) {
    cli_progress_finish(&cli.progress);
    /* A failed preview write cancels the run: say why, not "cancelled". */
    const GError *reported = cli.preview.error ? cli.preview.error : error;
    g_autofree char *message = printable_message(reported ? reported->message : "failed");
    g_printerr("ddim: %s\n", message);
    g_clear_error(&error);
  }
  cli_clear(&cli);
  return finish(ok);
}
