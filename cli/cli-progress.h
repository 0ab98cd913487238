/* cli-progress.h — a progress bar on stderr for long runs.
 *
 * The bar appears only when stderr is a terminal and the run has taken more
 * than a second, and shows the phase, step/total and an estimate of the time
 * left in the phase.  cli_progress_finish() erases it. */
#ifndef DDIM_CLI_PROGRESS_H
#define DDIM_CLI_PROGRESS_H

#include "ddim.h"

G_BEGIN_DECLS

typedef struct {
  gboolean enabled; /* stderr is a terminal */
  gint64 start_us;  /* when the run began */
  gint64 phase_start_us;
  gint64 last_us;  /* time of the previous report */
  gint64 drawn_us; /* time the bar was last drawn */
  int last_step;
  DdimPhase last_phase;
  int drawn_width; /* characters of the bar on screen, 0 if none */
  char *label;     /* e.g. "images 1-8 of 20", or NULL */
} CliProgress;

void cli_progress_init(CliProgress *progress);
/* Starts timing a run (the one-second delay counts from here). */
void cli_progress_start(CliProgress *progress);
/* A label shown before the bar, such as the part of a split batch. */
void cli_progress_set_label(CliProgress *progress, const char *label);
/* For DdimParams.progress, with the CliProgress as data.  Never cancels. */
gboolean cli_progress_report(const DdimProgress *report, gpointer data);
void cli_progress_finish(CliProgress *progress);
void cli_progress_clear(CliProgress *progress);

G_END_DECLS

#endif /* DDIM_CLI_PROGRESS_H */
