/* throughput.c — how fast this machine runs a model's network, for run-time
 * estimates (ddim_job_estimate's FLOPs ÷ this). */
#include "ddim-job.h"

/* The calibration evaluation stays below this many FLOPs (about 0.1 s). */
#define CALIBRATION_MAX_FLOPS 1.5e9

double ddim_model_measure_throughput(DdimModel *model) {
  const DdimModelInfo *info = ddim_model_get_info(model);
  DdimShape shape = {1, info->in_channels, info->sample_height, info->sample_width};
  const int multiple = MAX(info->size_multiple, 1);
  while (ddim_model_flops(model, shape) > CALIBRATION_MAX_FLOPS && shape.h / 2 >= multiple &&
         shape.w / 2 >= multiple && (shape.h / 2) % multiple == 0 &&
         (shape.w / 2) % multiple == 0) {
    shape.h /= 2;
    shape.w /= 2;
  }
  const double flops = ddim_model_flops(model, shape);
  const size_t count = ddim_shape_elements(shape);
  g_autofree float *x = g_try_new0(float, count);
  g_autofree float *eps = g_try_new(float, count);
  if (x == NULL || eps == NULL) return 0.0;
  const float timestep = (float)(info->num_train_timesteps / 2);
  /* The first evaluation plans the memory; the fastest of the next three counts. */
  double best = 0.0;
  for (int i = 0; i < 4; i++) {
    const gint64 start = g_get_monotonic_time();
    if (!ddim_model_eps(model, x, shape, &timestep, eps, NULL)) return 0.0;
    const double seconds = (g_get_monotonic_time() - start) / 1e6;
    if (i > 0 && (best == 0.0 || seconds < best)) best = seconds;
  }
  return best > 0.0 && flops > 0.0 ? flops / best : 0.0;
}
