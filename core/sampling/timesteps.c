/* timesteps.c — how timesteps are chosen (DDIM App. C.1 / D.2).
 *
 * All lists are 0-based training timesteps (the official code's t, the
 * paper's t+1), returned ascending with duplicates removed: a repeated
 * timestep is a no-op DDIM step (ᾱ_t = ᾱ_prev) that would still cost a
 * network evaluation.  The arithmetic follows numpy exactly where the
 * reference implementations use it, so the integers agree bit for bit. */
#include "ddim.h"
#include "timesteps.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const schedule_names[] = {"uniform", "quadratic", "trailing", "linspace"};

const char *ddim_schedule_name(DdimSchedule schedule) {
  if ((unsigned)schedule < G_N_ELEMENTS(schedule_names)) return schedule_names[schedule];
  return "unknown";
}

gboolean ddim_schedule_from_name(const char *name, DdimSchedule *schedule) {
  for (unsigned i = 0; i < G_N_ELEMENTS(schedule_names); i++)
    if (g_ascii_strcasecmp(name, schedule_names[i]) == 0) {
      *schedule = (DdimSchedule)i;
      return TRUE;
    }
  /* Accept the official and diffusers spellings too. */
  if (g_ascii_strcasecmp(name, "quad") == 0)
    *schedule = DDIM_SCHEDULE_QUADRATIC;
  else if (g_ascii_strcasecmp(name, "leading") == 0)
    *schedule = DDIM_SCHEDULE_UNIFORM;
  else
    return FALSE;
  return TRUE;
}

static int compare_ints(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

/* Sort ascending, drop negatives and values ≥ T, remove duplicates. */
static int normalise(int *values, int count, int num_train_timesteps) {
  qsort(values, (size_t)count, sizeof *values, compare_ints);
  int kept = 0;
  for (int i = 0; i < count; i++) {
    if (values[i] < 0 || values[i] >= num_train_timesteps) continue;
    if (kept > 0 && values[kept - 1] == values[i]) continue;
    values[kept++] = values[i];
  }
  return kept;
}

int ddim_timesteps_make(DdimSchedule schedule, int num_train_timesteps, int steps, int steps_offset,
                        int **timesteps, GError **error) {
  const int T = num_train_timesteps;
  *timesteps = NULL;
  if (steps < 1 || steps > T) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "steps must be between 1 and %d (the model's training timesteps), not %d", T,
                steps);
    return 0;
  }
  int *values = g_new(int, (gsize)steps + 2);
  int count = 0;
  switch (schedule) {
  case DDIM_SCHEDULE_UNIFORM:
    /* diffusers "leading": arange(S)·(T//S) + steps_offset (the official
     * range(0, T, T//S) agrees when S divides T and has extra entries otherwise). */
    for (int i = 0; i < steps; i++) values[count++] = i * (T / steps) + steps_offset;
    break;
  case DDIM_SCHEDULE_QUADRATIC: {
    /* Official "quad": int(linspace(0, sqrt(0.8·T), S)²); numpy linspace is
     * y_i = i·step with the endpoint set exactly. */
    double stop = sqrt((double)T * 0.8);
    double step = steps > 1 ? stop / (double)(steps - 1) : 0.0;
    for (int i = 0; i < steps; i++) {
      double y = (steps > 1 && i == steps - 1) ? stop : (double)i * step;
      values[count++] = (int)(y * y);
    }
    break;
  }
  case DDIM_SCHEDULE_TRAILING: {
    /* diffusers: round(arange(T, 0, -T/S)) − 1.  numpy's arange has
     * ceil(T / (T/S)) entries, the first two start and start+step, the rest
     * start + i·delta with delta = (start + step) − start. */
    double step = -(double)T / (double)steps;
    double length_f = ceil((0.0 - (double)T) / step);
    int length = (int)length_f;
    if (length > steps + 1) length = steps + 1;
    double delta = ((double)T + step) - (double)T;
    for (int i = 0; i < length; i++) {
      double v = i == 0 ? (double)T : i == 1 ? (double)T + step : (double)T + (double)i * delta;
      values[count++] = (int)rint(v) - 1;
    }
    break;
  }
  case DDIM_SCHEDULE_LINSPACE: {
    /* diffusers: linspace(0, T−1, S).round() (round half to even = rint). */
    double stop = (double)(T - 1);
    double step = steps > 1 ? stop / (double)(steps - 1) : 0.0;
    for (int i = 0; i < steps; i++) {
      double y = (steps > 1 && i == steps - 1) ? stop : (double)i * step;
      values[count++] = (int)rint(y);
    }
    break;
  }
  default:
    g_free(values);
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT, "unknown schedule %d",
                (int)schedule);
    return 0;
  }
  count = normalise(values, count, T);
  if (count == 0) {
    g_free(values);
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "the %s schedule with %d steps visits no timestep", ddim_schedule_name(schedule),
                steps);
    return 0;
  }
  *timesteps = values;
  return count;
}
