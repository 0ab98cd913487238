/* commands-invert.c — the subcommands built on DDIM inversion: encode
 * (image → latent), reconstruct (encode, decode, and how close it came
 * back) and interpolate (two images → frames between their latents). */
#include "cli-images.h"
#include "cli.h"
#include "ddim-io.h"

#include <string.h>

gboolean cli_run_encode(Cli *cli, GError **error) {
  if (!cli_require_output(cli, FALSE, error)) return FALSE;
  g_auto(CliTensor) x = {0};
  if (!cli_load_image(cli->model, &cli->params, cli->inputs[0], cli->resize, &x, error))
    return FALSE;
  DdimJob job;
  cli_job_init(cli, &job, DDIM_WORKFLOW_ENCODE, x.shape);
  job.inputs = x.data;
  job.input_count = x.shape.n;
  g_auto(DdimJobResult) result = {0};
  return cli_run_job(cli, &job, &result, error) &&
         ddim_npy_write(cli->output, result.latents, x.shape, x.rank == 4, error);
}

gboolean cli_run_reconstruct(Cli *cli, GError **error) {
  if (!cli_require_output(cli, TRUE, error)) return FALSE;
  g_auto(CliTensor) x = {0};
  if (!cli_load_image(cli->model, &cli->params, cli->inputs[0], cli->resize, &x, error) ||
      !cli_check_output(cli->output, TRUE, x.shape.n, error))
    return FALSE;
  DdimJob job;
  cli_job_init(cli, &job, DDIM_WORKFLOW_RECONSTRUCT, x.shape);
  job.inputs = x.data;
  job.input_count = x.shape.n;
  if (!cli_check_job(cli, &job, FALSE, error)) return FALSE;
  g_auto(DdimJobResult) result = {0};
  if (!cli_run_job(cli, &job, &result, error) ||
      !cli_save_images(cli->output, result.images, x.shape, x.rank == 4, x.file_width,
                       x.file_height, error))
    return FALSE;
  /* Measured in model space, before the 8-bit quantisation of a PNG. */
  char mse_text[G_ASCII_DTOSTR_BUF_SIZE], psnr_text[G_ASCII_DTOSTR_BUF_SIZE];
  g_ascii_formatd(mse_text, sizeof mse_text, "%.6g", result.mse);
  g_ascii_formatd(psnr_text, sizeof psnr_text, "%.2f", result.psnr);
  g_print("mse=%s psnr=%s\n", mse_text, psnr_text);
  return TRUE;
}

/* The two ends: one image each, of the same size. */
static gboolean load_ends(Cli *cli, CliTensor *a, CliTensor *b, GError **error) {
  CliTensor *ends[2] = {a, b};
  for (int i = 0; i < 2; i++) {
    if (!cli_load_image(cli->model, &cli->params, cli->inputs[i], cli->resize, ends[i], error))
      return FALSE;
    if (ends[i]->shape.n != 1) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                  "%s: holds %d images; interpolate needs one at each end", cli->inputs[i],
                  ends[i]->shape.n);
      return FALSE;
    }
  }
  if (a->file_width != b->file_width || a->file_height != b->file_height ||
      a->shape.w != b->shape.w || a->shape.h != b->shape.h) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "%s is %dx%d and %s is %dx%d; interpolate needs two images of the same size",
                cli->inputs[0], a->file_width, a->file_height, cli->inputs[1], b->file_width,
                b->file_height);
    return FALSE;
  }
  return TRUE;
}

gboolean cli_run_interpolate(Cli *cli, GError **error) {
  if (!cli_require_output(cli, TRUE, error)) return FALSE;
  if (cli->frames_text == NULL) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "interpolate needs --frames K (2 or more, the ends included)");
    return FALSE;
  }
  int frames;
  if (!cli_parse_int(cli->frames_text, "--frames", 2, 4096, &frames, error) ||
      !cli_check_output(cli->output, TRUE, frames, error))
    return FALSE;
  g_auto(CliTensor) a = {0};
  g_auto(CliTensor) b = {0};
  if (!load_ends(cli, &a, &b, error)) return FALSE;
  const size_t image_values = ddim_shape_elements(a.shape);
  g_autofree float *inputs = g_try_new(float, 2 * image_values);
  if (inputs == NULL) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY, "not enough memory for two images");
    return FALSE;
  }
  memcpy(inputs, a.data, image_values * sizeof(float));
  memcpy(inputs + image_values, b.data, image_values * sizeof(float));
  DdimJob job;
  cli_job_init(cli, &job, DDIM_WORKFLOW_INTERPOLATE, a.shape);
  job.inputs = inputs;
  job.input_count = 2;
  job.count = frames;
  /* The command writes a sequence to play: both ends are frames. */
  job.frame_spacing = DDIM_FRAMES_WITH_ENDS;
  if (!cli_check_job(cli, &job, FALSE, error)) return FALSE;
  g_auto(DdimJobResult) result = {0};
  DdimShape frames_shape = a.shape;
  frames_shape.n = frames;
  return cli_run_job(cli, &job, &result, error) &&
         cli_save_images(cli->output, result.images, frames_shape, TRUE, a.file_width,
                         a.file_height, error);
}
