/* cli-progress.c — the progress bar of the ddim command (see cli-progress.h). */
#include "cli-progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define BAR_WIDTH 24

void cli_progress_init(CliProgress *progress) {
  memset(progress, 0, sizeof *progress);
  progress->enabled = isatty(STDERR_FILENO);
  cli_progress_start(progress);
}

void cli_progress_start(CliProgress *progress) {
  gint64 now = g_get_monotonic_time();
  progress->start_us = progress->phase_start_us = progress->last_us = now;
  progress->last_step = 0;
  progress->last_phase = (DdimPhase)-1;
}

void cli_progress_set_label(CliProgress *progress, const char *label) {
  g_free(progress->label);
  progress->label = g_strdup(label);
}

static char *format_duration(double seconds) {
  long total = (long)(seconds + 0.5);
  if (total >= 3600)
    return g_strdup_printf("%ld:%02ld:%02ld", total / 3600, total / 60 % 60, total % 60);
  return g_strdup_printf("%ld:%02ld", total / 60, total % 60);
}

gboolean cli_progress_report(const DdimProgress *report, gpointer data) {
  CliProgress *progress = data;
  gint64 now = g_get_monotonic_time();
  /* Inside a tiled step: redraw at most twice a second, timing untouched. */
  const gboolean within_step = report->tiles_done < report->tiles_total;
  if (within_step && (!progress->enabled || now - progress->drawn_us < G_USEC_PER_SEC / 2))
    return TRUE;
  if (within_step) goto draw;
  /* A new phase (or a new run of the same phase) starts timing afresh. */
  if (report->phase != progress->last_phase || report->step <= progress->last_step)
    progress->phase_start_us = progress->last_us;
  progress->last_phase = report->phase;
  progress->last_step = report->step;
  progress->last_us = now;
  if (!progress->enabled || now - progress->start_us < G_USEC_PER_SEC || report->total < 1)
    return TRUE;
draw:;

  int step = CLAMP(report->step, 0, report->total);
  double elapsed = (double)(now - progress->phase_start_us) / G_USEC_PER_SEC;
  double left = step > 0 ? elapsed / step * (report->total - step) : 0.0;
  char bar[BAR_WIDTH + 1];
  int filled = (int)((gint64)BAR_WIDTH * step / report->total);
  memset(bar, '#', filled);
  memset(bar + filled, '.', BAR_WIDTH - filled);
  bar[BAR_WIDTH] = '\0';
  g_autofree char *eta = format_duration(left);
  g_autofree char *tiles =
      report->tiles_total > 0
          ? g_strdup_printf(" tiles %d/%d", report->tiles_done, report->tiles_total)
          : g_strdup("");
  g_autofree char *line = g_strdup_printf(
      "%s%s%s %d/%d [%s] ETA %s%s", progress->label ? progress->label : "",
      progress->label ? "  " : "", report->phase == DDIM_PHASE_ENCODE ? "encode" : "decode", step,
      report->total, bar, eta, tiles);
  progress->drawn_us = now;
  int width = (int)strlen(line);
  /* Pad over the remains of a longer previous line. */
  fprintf(stderr, "\r%s%*s", line, MAX(progress->drawn_width - width, 0), "");
  fflush(stderr);
  progress->drawn_width = MAX(progress->drawn_width, width);
  return TRUE;
}

void cli_progress_finish(CliProgress *progress) {
  if (progress->drawn_width > 0) {
    fprintf(stderr, "\r%*s\r", progress->drawn_width, "");
    fflush(stderr);
  }
  progress->drawn_width = 0;
}

void cli_progress_clear(CliProgress *progress) {
  cli_progress_finish(progress);
  g_clear_pointer(&progress->label, g_free);
}
