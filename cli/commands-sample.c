/* commands-sample.c — the subcommands that sample images: generate (from
 * noise or given latents), decode (latents from encode) and vary (SDEdit),
 * each optionally masked (--mask: regenerate only there). */
#include "cli-images.h"
#include "cli.h"
#include "ddim-io.h"

/* Sets up a masked run from --mask (and --image: the known image, for
 * generate and decode; vary keeps its own input).  *mask and *known receive
 * what params points to.  shape.n: the images the run makes. */
static gboolean set_up_mask(Cli *cli, DdimShape shape, gboolean needs_known, DdimParams *params,
                            float **mask, CliTensor *known, GError **error) {
  if (cli->mask_path == NULL) {
    if (cli->known_path) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                  "--image %s is the image kept outside --mask; give --mask too", cli->known_path);
      return FALSE;
    }
    return TRUE;
  }
  if (!cli_load_mask(cli->mask_path, shape.w, shape.h, mask, error)) return FALSE;
  params->mask = *mask;
  if (!needs_known) return TRUE;
  if (cli->known_path == NULL) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "%s --mask needs --image IN: the image whose pixels outside the mask are kept",
                cli->command->name);
    return FALSE;
  }
  if (!cli_load_image(cli->model, params, cli->known_path, FALSE, known, error)) return FALSE;
  if (known->shape.w != shape.w || known->shape.h != shape.h ||
      (known->shape.n != 1 && known->shape.n != shape.n)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "%s: %d image(s) of %dx%d; the run makes %d of %dx%d", cli->known_path,
                known->shape.n, known->shape.w, known->shape.h, shape.n, shape.w, shape.h);
    return FALSE;
  }
  params->known = known->data;
  params->known_count = known->shape.n;
  return TRUE;
}

/* --count and --size against the latents of --xt. */
static gboolean check_xt(Cli *cli, const CliTensor *xt, int count, int width, int height,
                         GError **error) {
  if (cli->count_text && count != xt->shape.n) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "--count %d does not match the %d latent(s) in %s", count, xt->shape.n,
                cli->xt_path);
    return FALSE;
  }
  if (cli->size_text && (width != xt->shape.w || height != xt->shape.h)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "--size %dx%d does not match the %dx%d latents in %s", width, height, xt->shape.w,
                xt->shape.h, cli->xt_path);
    return FALSE;
  }
  return TRUE;
}

gboolean cli_run_generate(Cli *cli, GError **error) {
  const DdimModelInfo *info = cli->info;
  if (!cli_require_output(cli, TRUE, error)) return FALSE;
  if (cli->save_xt_path && !cli_check_output(cli->save_xt_path, FALSE, 0, error)) return FALSE;
  int count = 1, width = info->sample_width, height = info->sample_height;
  if (cli->count_text && !cli_parse_int(cli->count_text, "--count", 1, G_MAXINT, &count, error))
    return FALSE;
  if (cli->size_text && !cli_parse_size(cli->size_text, "--size", &width, &height, error))
    return FALSE;

  g_auto(CliTensor) xt = {0};
  DdimShape image = {1, info->in_channels, height, width};
  gboolean with_batch_dim = count > 1;
  if (cli->xt_path) {
    if (!cli_load_latent(cli->model, &cli->params, cli->xt_path, &xt, error) ||
        !check_xt(cli, &xt, count, width, height, error))
      return FALSE;
    count = xt.shape.n;
    image = xt.shape;
    image.n = 1;
    with_batch_dim = xt.rank == 4;
  } else {
    GError *shape_error = NULL;
    if (!ddim_params_check_shape(cli->model, &cli->params, image, &shape_error)) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT, "--size %dx%d: %s", width, height,
                  shape_error->message);
      g_error_free(shape_error);
      return FALSE;
    }
  }
  /* A series' names are longer than OUT: refused now, not after the run. */
  if (!cli_check_output(cli->output, TRUE, count, error)) return FALSE;
  DdimJob job;
  cli_job_init(cli, &job, DDIM_WORKFLOW_GENERATE, image);
  job.count = count;
  job.inputs = xt.data;
  job.input_count = xt.data ? xt.shape.n : 0;
  job.keep_latents = cli->save_xt_path != NULL;
  g_autofree float *mask = NULL;
  g_auto(CliTensor) known = {0};
  DdimShape all = image;
  all.n = count;
  if (!set_up_mask(cli, all, TRUE, &job.params, &mask, &known, error) ||
      !cli_check_job(cli, &job, cli->xt_path == NULL, error))
    return FALSE;
  g_auto(DdimJobResult) result = {0};
  return cli_run_job(cli, &job, &result, error) &&
         (cli->save_xt_path == NULL ||
          ddim_npy_write(cli->save_xt_path, result.latents, all, with_batch_dim, error)) &&
         cli_save_images(cli->output, result.images, all, with_batch_dim, image.w, image.h, error);
}

gboolean cli_run_decode(Cli *cli, GError **error) {
  if (!cli_require_output(cli, TRUE, error)) return FALSE;
  g_auto(CliTensor) x = {0};
  if (!cli_load_latent(cli->model, &cli->params, cli->inputs[0], &x, error) ||
      !cli_check_output(cli->output, TRUE, x.shape.n, error))
    return FALSE;
  DdimJob job;
  cli_job_init(cli, &job, DDIM_WORKFLOW_DECODE, x.shape);
  job.inputs = x.data;
  job.input_count = x.shape.n;
  g_autofree float *mask = NULL;
  g_auto(CliTensor) known = {0};
  if (!set_up_mask(cli, x.shape, TRUE, &job.params, &mask, &known, error)) return FALSE;
  if (!cli_check_job(cli, &job, FALSE, error)) return FALSE;
  g_auto(DdimJobResult) result = {0};
  return cli_run_job(cli, &job, &result, error) &&
         cli_save_images(cli->output, result.images, x.shape, x.rank == 4, x.shape.w, x.shape.h,
                         error);
}

gboolean cli_run_vary(Cli *cli, GError **error) {
  if (!cli_require_output(cli, TRUE, error)) return FALSE;
  g_auto(CliTensor) x = {0};
  if (!cli_load_image(cli->model, &cli->params, cli->inputs[0], cli->resize, &x, error) ||
      !cli_check_output(cli->output, TRUE, x.shape.n, error))
    return FALSE;
  if (cli->mask_path && cli->resize && (x.file_width != x.shape.w || x.file_height != x.shape.h)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "--mask works at the image's own size; leave out --resize");
    return FALSE;
  }
  if (cli->known_path) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "vary keeps its own input outside --mask; --image is for generate and decode");
    return FALSE;
  }
  DdimJob job;
  cli_job_init(cli, &job, DDIM_WORKFLOW_VARY, x.shape);
  /* One variation of each input image. */
  job.inputs = x.data;
  job.input_count = x.shape.n;
  job.count = x.shape.n;
  g_autofree float *mask = NULL;
  if (!set_up_mask(cli, x.shape, FALSE, &job.params, &mask, NULL, error)) return FALSE;
  if (!cli_check_job(cli, &job, TRUE, error)) return FALSE;
  g_auto(DdimJobResult) result = {0};
  return cli_run_job(cli, &job, &result, error) &&
         cli_save_images(cli->output, result.images, x.shape, x.rank == 4, x.file_width,
                         x.file_height, error);
}
