/* ddim-bench.c — times the engine for tools/bench.py (not a test).
 *
 *   ddim-bench MODEL [--batch N] [--size HxW] [--evals E] [--steps S]
 *              [--threads T] [--input X.npy --output EPS.npy --timestep T]
 *
 * Prints one JSON object: the network's FLOPs, the median seconds of E
 * network evaluations, the seconds of a full S-step DDIM run (η = 0), the
 * achieved GFLOP/s, this process's sgemm peak on large square matrices, the
 * OpenBLAS kernel, and the peak resident memory. */
#include "ddim.h"
#include "ddim-io.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern char *openblas_get_corename(void);

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time of every thread of the process. */
static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Peak resident memory of this process since exec (VmHWM); getrusage's
 * ru_maxrss would carry over the parent's peak across fork + exec. */
static long status_bytes(const char *field) {
  g_autofree char *status = NULL;
  if (!g_file_get_contents("/proc/self/status", &status, NULL, NULL)) return -1;
  const char *line = strstr(status, field);
  return line ? 1024L * strtol(line + strlen(field), NULL, 10) : -1;
}

static long peak_rss_bytes(void) {
  return status_bytes("VmHWM:");
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Best of a few large square sgemms: the machine's practical GEMM peak. */
static double sgemm_peak_gflops(void) {
  const int n = 2048;
  float *a = g_new(float, (gsize)n *n), *b = g_new(float, (gsize)n *n),
        *c = g_new(float, (gsize)n *n);
  for (size_t i = 0; i < (size_t)n * n; i++) {
    a[i] = (float)(i % 7) * 0.1f;
    b[i] = (float)(i % 5) * 0.1f;
  }
  double best = 1e30;
  for (int r = 0; r < 5; r++) {
    double t0 = now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    double dt = now() - t0;
    if (r > 0 && dt < best) best = dt; /* the first warms up the threads */
  }
  g_free(a);
  g_free(b);
  g_free(c);
  return 2.0 * n * (double)n * n / best / 1e9;
}

int main(int argc, char **argv) {
  /* What the process holds before the engine does anything (libraries):
   * the memory the engine uses is the peak above it. */
  const long baseline_rss = status_bytes("VmRSS:");
  int batch = 1, evals = 5, steps = 20, threads = 0;
  char *size = NULL, *input = NULL, *output = NULL;
  double timestep = 500;
  char *convolutions_name = NULL;
  GOptionEntry entries[] = {
      {"batch", 0, 0, G_OPTION_ARG_INT, &batch, "Batch size", "N"},
      {"size", 0, 0, G_OPTION_ARG_STRING, &size, "Image size", "HxW"},
      {"evals", 0, 0, G_OPTION_ARG_INT, &evals, "Timed network evaluations", "E"},
      {"steps", 0, 0, G_OPTION_ARG_INT, &steps, "Steps of the timed DDIM run (0: none)", "S"},
      {"threads", 0, 0, G_OPTION_ARG_INT, &threads, "Threads", "T"},
      {"input", 0, 0, G_OPTION_ARG_FILENAME, &input, "Input for one checked evaluation", "X.npy"},
      {"output", 0, 0, G_OPTION_ARG_FILENAME, &output, "Where to write its eps", "EPS.npy"},
      {"timestep", 0, 0, G_OPTION_ARG_DOUBLE, &timestep, "Timestep of the evaluations", "T"},
      {"convolutions", 0, 0, G_OPTION_ARG_STRING, &convolutions_name,
       "default, direct or fast (see ddim_model_set_convolutions)", "HOW"},
      {NULL, 0, 0, 0, NULL, NULL, NULL}};
  g_autoptr(GOptionContext) context = g_option_context_new("MODEL");
  g_option_context_add_main_entries(context, entries, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(context, &argc, &argv, &error) || argc != 2) {
    fprintf(stderr, "ddim-bench: %s\n", error ? error->message : "give one MODEL");
    return 1;
  }
  ddim_set_threads(threads);
  double load_start = now();
  g_autoptr(DdimModel) model = ddim_model_load(argv[1], &error);
  if (!model) {
    fprintf(stderr, "ddim-bench: %s\n", error->message);
    return 1;
  }
  double load_seconds = now() - load_start;
  DdimConvolutions convolutions = DDIM_CONVOLUTIONS_DEFAULT;
  if (convolutions_name && !ddim_convolutions_from_name(convolutions_name, &convolutions)) {
    fprintf(stderr, "ddim-bench: --convolutions %s: not default, direct or fast\n",
            convolutions_name);
    return 1;
  }
  ddim_model_set_convolutions(model, convolutions);
  const DdimModelInfo *info = ddim_model_get_info(model);
  DdimShape shape = {batch, info->in_channels, info->sample_height, info->sample_width};
  if (size && sscanf(size, "%dx%d", &shape.h, &shape.w) != 2) {
    fprintf(stderr, "ddim-bench: bad --size\n");
    return 1;
  }
  size_t count = ddim_shape_elements(shape);
  g_autofree float *x = g_new(float, count), *eps = g_new(float, count);
  g_autofree float *t = g_new(float, (gsize)shape.n);
  for (int b = 0; b < shape.n; b++) t[b] = (float)timestep;
  ddim_noise(1, DDIM_STREAM_INITIAL, shape, x);

  if (input) { /* one evaluation on the caller's input, for the agreement check */
    g_autofree float *given = NULL;
    DdimShape given_shape;
    if (!ddim_npy_read(input, &given, &given_shape, &error) ||
        !ddim_model_eps(model, given, given_shape, t, eps, &error) ||
        (output && !ddim_npy_write(output, eps, given_shape, TRUE, &error))) {
      fprintf(stderr, "ddim-bench: %s\n", error->message);
      return 1;
    }
  }

  /* Warm-up (plans the arena), then the timed evaluations. */
  if (!ddim_model_eps(model, x, shape, t, eps, &error)) {
    fprintf(stderr, "ddim-bench: %s\n", error->message);
    return 1;
  }
  double *times = g_new(double, evals > 0 ? evals : 1);
  /* CPU time too: on a loaded machine it moves much less than wall time
   * (run with OMP_WAIT_POLICY=passive so idle threads do not spin). */
  const double cpu_start = cpu_now();
  for (int i = 0; i < evals; i++) {
    double t0 = now();
    ddim_model_eps(model, x, shape, t, eps, NULL);
    times[i] = now() - t0;
  }
  const double eval_cpu_seconds = evals > 0 ? (cpu_now() - cpu_start) / evals : 0.0;
  qsort(times, (size_t)evals, sizeof *times, compare_doubles);
  double eval_seconds = evals > 0 ? times[evals / 2] : 0.0;
  g_free(times);

  double run_seconds = 0.0;
  if (steps > 0) {
    DdimParams params;
    ddim_params_init(&params);
    params.steps = steps;
    double t0 = now();
    if (!ddim_sample(model, &params, x, shape, &error)) {
      fprintf(stderr, "ddim-bench: %s\n", error->message);
      return 1;
    }
    run_seconds = now() - t0;
  }

  double flops = ddim_model_flops(model, shape);
  /* Before the sgemm peak, whose 2048² matrices (48 MB) are not the engine's. */
  const long peak_rss = peak_rss_bytes();
  double peak = sgemm_peak_gflops();
  printf("{\"parameters\": %" G_GUINT64_FORMAT ", \"weight_bytes\": %" G_GUINT64_FORMAT
         ", \"arena_bytes\": %" G_GUINT64_FORMAT ", \"batch\": %d, \"height\": %d, \"width\": %d, "
         "\"threads\": %d, \"flops_per_eval\": %.6g, \"eval_seconds\": %.6g, "
         "\"eval_cpu_seconds\": %.6g, \"run_steps\": %d, "
         "\"run_seconds\": %.6g, \"gflops\": %.4g, \"sgemm_peak_gflops\": %.4g, "
         "\"peak_rss_bytes\": %ld, \"baseline_rss_bytes\": %ld, \"load_seconds\": %.4g, "
         "\"openblas_core\": \"%s\"}\n",
         info->parameter_count, info->weight_bytes,
         ddim_model_memory_needed(model, shape) - info->weight_bytes, shape.n, shape.h, shape.w,
         ddim_get_threads(), flops, eval_seconds, eval_cpu_seconds, steps, run_seconds,
         eval_seconds > 0 ? flops / eval_seconds / 1e9 : 0.0, peak, peak_rss, baseline_rss,
         load_seconds, openblas_get_corename());
  return 0;
}
