/* commands-model.c — the subcommands about the model itself: info (what
 * it is), eps (one network evaluation) and convert (to a safetensors
 * folder). */
#include "cli-images.h"
#include "cli.h"
#include "ddim-convert.h"
#include "ddim-io.h"

#include <string.h>

static const char *prediction_name(DdimPrediction prediction) {
  switch (prediction) {
  case DDIM_PREDICTION_EPSILON:
    return "epsilon";
  case DDIM_PREDICTION_SAMPLE:
    return "sample";
  case DDIM_PREDICTION_V:
    return "v_prediction";
  }
  return "unknown";
}

static char *format_double(double value) {
  char buffer[G_ASCII_DTOSTR_BUF_SIZE];
  return g_strdup(g_ascii_formatd(buffer, sizeof buffer, "%g", value));
}

static char *format_count(guint64 count) {
  char buffer[G_ASCII_DTOSTR_BUF_SIZE];
  if (count >= 1000000)
    return g_strdup_printf("%s M", g_ascii_formatd(buffer, sizeof buffer, "%.1f", count / 1e6));
  if (count >= 1000)
    return g_strdup_printf("%s k", g_ascii_formatd(buffer, sizeof buffer, "%.1f", count / 1e3));
  return g_strdup_printf("%" G_GUINT64_FORMAT, count);
}

gboolean cli_run_info(Cli *cli, GError **error) {
  (void)error;
  const DdimModelInfo *info = cli->info;
  DdimShape native = {1, info->in_channels, info->sample_height, info->sample_width};
  g_autofree char *parameters = format_count(info->parameter_count);
  g_autofree char *weight_size = g_format_size_full(info->weight_bytes, G_FORMAT_SIZE_IEC_UNITS);
  uint64_t run_bytes = ddim_model_memory_needed(cli->model, native);
  g_autofree char *run_size = run_bytes == UINT64_MAX
                                  ? g_strdup("too large to run")
                                  : g_format_size_full(run_bytes, G_FORMAT_SIZE_IEC_UNITS);
  g_autofree char *beta_start = format_double(info->beta_start);
  g_autofree char *beta_end = format_double(info->beta_end);
  g_autofree char *clip_range = format_double(info->clip_sample_range);

  g_print("model:           %s\n", cli->model_path);
  g_print("source:          %s\n", ddim_model_get_source(cli->model));
  g_print("resolution:      %dx%d (other sizes: multiples of %d)\n", info->sample_width,
          info->sample_height, info->size_multiple);
  g_print("channels:        %d in, %d out\n", info->in_channels, info->out_channels);
  g_print("size multiple:   %d\n", info->size_multiple);
  g_print("parameters:      %s (%" G_GUINT64_FORMAT ")\n", parameters, info->parameter_count);
  g_print("weights:         %s as stored, %s in memory as float32\n",
          info->weights_dtype ? info->weights_dtype : "?", weight_size);
  g_print("schedule:        %s betas, T=%d, beta %s to %s\n",
          info->beta_schedule ? info->beta_schedule : "?", info->num_train_timesteps, beta_start,
          beta_end);
  g_print("prediction:      %s\n", prediction_name(info->prediction_type));
  if (info->clip_sample)
    g_print("clip default:    on (x0 clipped to [-%s, %s])\n", clip_range, clip_range);
  else
    g_print("clip default:    off\n");
  g_print("final alpha:     %s, steps_offset %d\n",
          info->set_alpha_to_one ? "1 (set_alpha_to_one)" : "alpha_bar_0", info->steps_offset);
  g_print("config:          %s\n",
          info->config_path ? info->config_path : "(built in; see source)");
  g_print("weights file:    %s\n", info->weights_path ? info->weights_path : "-");
  g_print("scheduler:       %s\n",
          info->scheduler_path ? info->scheduler_path : "(no scheduler_config.json; defaults)");
  if (info->identity) g_print("identity:        %s\n", info->identity);
  g_print("memory per run:  %s (batch 1, %dx%d)\n", run_size, info->sample_width,
          info->sample_height);
  return TRUE;
}

gboolean cli_run_eps(Cli *cli, GError **error) {
  if (!cli_require_output(cli, FALSE, error)) return FALSE;
  if (cli->timestep_text == NULL) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT, "eps needs --timestep T");
    return FALSE;
  }
  double timestep;
  if (!cli_parse_double(cli->timestep_text, "--timestep", 0.0, cli->info->num_train_timesteps - 1.0,
                        &timestep, error))
    return FALSE;
  g_auto(CliTensor) x = {0};
  if (!cli_load_latent(cli->model, NULL, cli->inputs[0], &x, error)) return FALSE;
  size_t count = ddim_shape_elements(x.shape);
  g_autofree float *eps = g_try_new(float, count);
  g_autofree float *timesteps = g_new(float, x.shape.n);
  if (eps == NULL) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY, "not enough memory for %zu values", count);
    return FALSE;
  }
  for (int k = 0; k < x.shape.n; k++) timesteps[k] = (float)timestep;
  return ddim_model_eps(cli->model, x.data, x.shape, timesteps, eps, error) &&
         ddim_npy_write(cli->output, eps, x.shape, x.rank == 4, error);
}

gboolean cli_run_convert(Cli *cli, GError **error) {
  if (cli->output == NULL) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "convert needs an output folder: -o OUT_DIR");
    return FALSE;
  }
  DdimConvertDtype dtype = DDIM_CONVERT_F32;
  if (cli->dtype_text && strcmp(cli->dtype_text, "source") == 0) {
    dtype = DDIM_CONVERT_SOURCE_DTYPE;
  } else if (cli->dtype_text && strcmp(cli->dtype_text, "f32") != 0) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "--dtype: unknown dtype '%s' (use f32 or source)", cli->dtype_text);
    return FALSE;
  }
  if (!ddim_model_convert(cli->model, cli->output, dtype, error)) return FALSE;
  g_print("wrote %s (config.json, diffusion_pytorch_model.safetensors, scheduler_config.json)\n",
          cli->output);
  return TRUE;
}
