/* cli-preview.h — `--preview-every N`: the current prediction x̂_0 written
 * to a PNG while a run goes on, so that a long run can be watched (and
 * stopped) early.
 *
 * After every Nth network evaluation of a phase, and after its last one,
 * x̂_0 of the first image of the current batch (DdimProgress.x0_pred, DDIM
 * eq. 9) is written to the preview file — `--preview FILE`, by default OUT's
 * name with "-preview.png" in place of its extension.  The file is replaced
 * atomically (written beside it, then renamed), so a viewer never reads half
 * a file.  A FILE holding %d (or %03d, …) keeps every preview instead, each
 * numbered by its network evaluation counted over the whole command (a
 * reconstruct's decode continues after its encode). */
#ifndef DDIM_CLI_PREVIEW_H
#define DDIM_CLI_PREVIEW_H

#include "cli-args.h"
#include "ddim.h"

G_BEGIN_DECLS

typedef struct {
  int every;  /* 0: no previews */
  char *path; /* the PNG */
  CliNamePattern pattern;
  gboolean numbered; /* path holds %d: one file per preview, numbered by evaluation */
  int evaluations;   /* network evaluations so far, over the whole command */
  int written;       /* previews written so far */
  GError *error;
} CliPreview;

/* every_text: the --preview-every value (NULL: off); path: --preview (NULL:
 * from output).  Fails on a bad N or a preview name that is not .png. */
gboolean cli_preview_init(CliPreview *preview, const char *every_text, const char *path,
                          const char *output, GError **error);

/* For every network evaluation: writes the preview when one is due.  FALSE
 * (which cancels the run) when writing failed; the error is kept in
 * preview->error. */
gboolean cli_preview_report(CliPreview *preview, const DdimProgress *report);

/* The name a preview of `output` gets by default: "out.png" → "out-preview.png". */
char *cli_preview_default_path(const char *output);

void cli_preview_clear(CliPreview *preview);

G_END_DECLS

#endif /* DDIM_CLI_PREVIEW_H */
