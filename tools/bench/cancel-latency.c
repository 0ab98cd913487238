/* cancel-latency.c — how soon a cancel stops a network evaluation (not a
 * test: it measures time).
 *
 *   cancel-latency MODEL [--size HxW] [--trials N] [--threads T]
 *
 * Runs ddim_model_eps on a worker thread, as the GIMP plug-in does, and
 * raises the abort flag that ddim_model_set_abort's check reads at N points
 * spread over one evaluation; prints one JSON object with the evaluation's
 * median time and the median and largest time from the flag to the
 * evaluation's return.  Without the check, a cancel would wait for the rest
 * of the evaluation (up to its whole time). */
#include "ddim.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct {
  DdimModel *model;
  const float *x, *timesteps;
  float *eps;
  DdimShape shape;
  gint stop;
  gint64 returned_us;
  gboolean ok;
} Trial;

static gboolean should_abort(gpointer data) {
  return g_atomic_int_get(&((Trial *)data)->stop) != 0;
}

static gpointer evaluate(gpointer data) {
  Trial *trial = data;
  trial->ok =
      ddim_model_eps(trial->model, trial->x, trial->shape, trial->timesteps, trial->eps, NULL);
  trial->returned_us = g_get_monotonic_time();
  return NULL;
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  char *size = NULL;
  int trials = 10, threads = 0;
  GOptionEntry entries[] = {
      {"size", 0, 0, G_OPTION_ARG_STRING, &size, "Image size (default: the model's)", "HxW"},
      {"trials", 0, 0, G_OPTION_ARG_INT, &trials, "Cancel points over one evaluation", "N"},
      {"threads", 0, 0, G_OPTION_ARG_INT, &threads, "Threads (default: all cores)", "T"},
      {NULL, 0, 0, 0, NULL, NULL, NULL}};
  g_autoptr(GError) error = NULL;
  g_autoptr(GOptionContext) context = g_option_context_new("MODEL");
  g_option_context_add_main_entries(context, entries, NULL);
  if (!g_option_context_parse(context, &argc, &argv, &error) || argc != 2 || trials < 1) {
    fprintf(stderr, "usage: cancel-latency MODEL [--size HxW] [--trials N] [--threads T]\n");
    return 2;
  }
  ddim_set_threads(threads);
  g_autoptr(DdimModel) model = ddim_model_load(argv[1], &error);
  if (model == NULL) {
    fprintf(stderr, "cancel-latency: %s\n", error->message);
    return 1;
  }
  const DdimModelInfo *info = ddim_model_get_info(model);
  DdimShape shape = {1, info->in_channels, info->sample_height, info->sample_width};
  if (size && sscanf(size, "%dx%d", &shape.h, &shape.w) != 2) {
    fprintf(stderr, "cancel-latency: bad --size\n");
    return 2;
  }
  if (!ddim_model_check_shape(model, shape, &error)) {
    fprintf(stderr, "cancel-latency: %s\n", error->message);
    return 1;
  }
  size_t values = ddim_shape_elements(shape);
  g_autofree float *x = g_new(float, values);
  g_autofree float *eps = g_new(float, values);
  ddim_noise(1, DDIM_STREAM_INITIAL, shape, x);
  float timestep = (float)(info->num_train_timesteps / 2);
  Trial trial = {model, x, &timestep, eps, shape, 0, 0, FALSE};
  ddim_model_set_abort(model, should_abort, &trial);

  /* The evaluation's own time: median of three after a warm-up. */
  double evaluation[3];
  for (int i = 0; i < 4; i++) {
    gint64 start = g_get_monotonic_time();
    evaluate(&trial);
    if (i > 0) evaluation[i - 1] = (g_get_monotonic_time() - start) / 1e6;
  }
  qsort(evaluation, 3, sizeof(double), compare_doubles);
  double seconds = evaluation[1];

  g_autofree double *latency = g_new(double, trials);
  int stopped = 0;
  for (int i = 0; i < trials; i++) {
    g_atomic_int_set(&trial.stop, 0);
    GThread *thread = g_thread_new("evaluation", evaluate, &trial);
    g_usleep((gulong)(seconds * 1e6 * (i + 0.5) / trials));
    gint64 cancelled_us = g_get_monotonic_time();
    g_atomic_int_set(&trial.stop, 1);
    g_thread_join(thread);
    latency[i] = MAX(trial.returned_us - cancelled_us, 0) / 1e6;
    if (!trial.ok) stopped++;
  }
  qsort(latency, trials, sizeof(double), compare_doubles);
  printf("{\"model\": \"%s\", \"size\": \"%dx%d\", \"evaluation_s\": %.4f, \"trials\": %d, "
         "\"stopped_early\": %d, \"latency_median_s\": %.4f, \"latency_max_s\": %.4f}\n",
         argv[1], shape.h, shape.w, seconds, trials, stopped, latency[trials / 2],
         latency[trials - 1]);
  return 0;
}
