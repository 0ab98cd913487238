/* ddim.c — the ddim command: DDIM sampling, inversion, reconstruction,
 * variation and interpolation with a diffusers UNet2DModel on the CPU.
 *
 * Every failure prints one line "ddim: <message>" on stderr and exits with
 * status 1; success exits 0. */
#include "cli-args.h"
#include "cli-images.h"
#include "cli-preview.h"
#include "cli-progress.h"
#include "ddim-convert.h"
#include "ddim.h"
#include "npy.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef DDIM_VERSION
#define DDIM_VERSION "unknown"
#endif
#ifndef DDIM_MODEL_INSTALL_DIR
#define DDIM_MODEL_INSTALL_DIR "/usr/local/share/ddim/models"
#endif
#ifndef DDIM_SOURCE_MODEL_DIR
#define DDIM_SOURCE_MODEL_DIR "models"
#endif
#define DEFAULT_MODEL_NAME "emoji32"

/* Larger batches gain little on a CPU and only delay the first result. */
#define MAX_BATCH 256

typedef struct Cli Cli;

/* Which options a subcommand takes. */
enum {
  OPT_SAMPLING = 1 << 0, /* --steps --eta --schedule --clip --no-clip --seed */
  OPT_OUTPUT = 1 << 1,   /* -o */
  OPT_STRENGTH = 1 << 2,
  OPT_RESIZE = 1 << 3,
  OPT_GENERATE = 1 << 4, /* --xt --save-xt --count --size */
  OPT_TIMESTEP = 1 << 5,
  OPT_FRAMES = 1 << 6,
  OPT_DTYPE = 1 << 7, /* convert: --dtype */
  OPT_MASK = 1 << 8,  /* --mask --mask-keep (and --image for generate, decode) */
};

typedef struct {
  const char *name;
  const char *arguments; /* the positionals, MODEL first */
  int argument_count;    /* including MODEL */
  guint options;
  double default_strength;
  const char *summary;
  const char *description;
  gboolean (*run)(Cli *cli, GError **error);
} Command;

struct Cli {
  const Command *command;
  /* Option values as given; NULL when absent. */
  char *output, *xt_path, *save_xt_path;
  char *steps_text, *eta_text, *schedule_text, *seed_text, *threads_text, *max_memory_text;
  char *count_text, *size_text, *strength_text, *timestep_text, *frames_text;
  char *config, *dtype_text;
  char *preview_every_text, *preview_path;
  char *tile_text, *overlap_text, *mask_path, *mask_keep_text, *known_path;
  int clip; /* -1 not given, 0 --no-clip, 1 --clip */
  gboolean resize;
  char *convolutions_text;
  char **positionals;
  /* Set up from them. */
  DdimParams params;
  gboolean seed_given;
  guint64 max_memory;
  char *model_path;
  const char *const *inputs; /* the positionals after MODEL */
  DdimModel *model;
  const DdimModelInfo *info;
  CliProgress progress;
  CliPreview preview;
};

/* ---- Running ------------------------------------------------------------ */

typedef enum {
  RUN_DECODE,
  RUN_ENCODE,
  RUN_VARY,
} RunKind;

static guint64 physical_memory(void) {
  long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
  return pages > 0 && page_size > 0 ? (guint64)pages * (guint64)page_size : 0;
}

/* The largest batch whose run fits in about half of the RAM (or the
 * --max-memory limit); at least 1, and the core says no if even that fails. */
static int batch_size_for(Cli *cli, const DdimParams *params, DdimShape shape) {
  /* A tiled run's network memory is bounded by its batch of tiles. */
  if (ddim_params_tiling(cli->model, params, shape, NULL, NULL, NULL))
    return MIN(shape.n, MAX_BATCH);
  guint64 budget = physical_memory() / 2;
  if (cli->max_memory && (budget == 0 || cli->max_memory < budget)) budget = cli->max_memory;
  int low = 1, high = MIN(shape.n, MAX_BATCH);
  while (low < high) {
    int middle = low + (high - low + 1) / 2;
    DdimShape part = shape;
    part.n = middle;
    if (budget == 0 || ddim_model_memory_needed(cli->model, part) <= budget)
      low = middle;
    else
      high = middle - 1;
  }
  return low;
}

/* The up-front memory check: a tiled run's network sees one batch of tiles
 * at a time (the sampler sizes that batch to the memory it is allowed), so
 * check one tile rather than the whole image. */
static gboolean check_run_memory(Cli *cli, const DdimParams *params, DdimShape shape,
                                 GError **error) {
  int tile_w = 0, tile_h = 0;
  if (ddim_params_tiling(cli->model, params, shape, &tile_w, &tile_h, NULL))
    shape = (DdimShape){1, shape.c, tile_h, tile_w};
  return ddim_model_check_memory(cli->model, shape, error);
}

/* One sampler call per batch that fits; image k keeps seed + k. */
static gboolean run_batched(Cli *cli, RunKind kind, const DdimParams *params, float *x,
                            DdimShape shape, GError **error) {
  int batch = batch_size_for(cli, params, shape);
  size_t image_values = (size_t)shape.c * shape.h * shape.w;
  DdimShape first_part = shape;
  first_part.n = MIN(batch, shape.n);
  gboolean ok = check_run_memory(cli, params, first_part, error);
  for (int first = 0; ok && first < shape.n; first += batch) {
    DdimShape part = shape;
    part.n = MIN(batch, shape.n - first);
    DdimParams part_params = *params;
    part_params.seed = params->seed + (guint64)first;
    if (params->known && params->known_count > 1) {
      part_params.known = params->known + (size_t)first * image_values;
      part_params.known_count = part.n;
    }
    g_autofree char *label =
        batch < shape.n ? g_strdup_printf("images %d-%d of %d", first + 1, first + part.n, shape.n)
                        : NULL;
    cli_progress_set_label(&cli->progress, label);
    float *part_x = x + (size_t)first * image_values;
    switch (kind) {
    case RUN_DECODE:
      ok = ddim_sample(cli->model, &part_params, part_x, part, error);
      break;
    case RUN_ENCODE:
      ok = ddim_invert(cli->model, &part_params, part_x, part, error);
      break;
    case RUN_VARY:
      ok = ddim_vary(cli->model, &part_params, part_x, part, error);
      break;
    }
  }
  cli_progress_finish(&cli->progress);
  return ok;
}

/* The seed matters only for noise: generated x_T, SDEdit, or η > 0. */
static void announce_seed(Cli *cli, gboolean uses_noise) {
  if (!cli->seed_given && (uses_noise || cli->params.eta > 0.0))
    g_printerr("seed=%" G_GUINT64_FORMAT "\n", cli->params.seed);
}

static gboolean require_output(Cli *cli, gboolean png_allowed, GError **error) {
  if (cli->output == NULL) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT, "%s needs an output file: -o %s",
                cli->command->name, png_allowed ? "OUT.png or -o OUT.npy" : "OUT.npy");
    return FALSE;
  }
  return cli_check_output(cli->output, png_allowed, error);
}

/* A tensor for `shape`, refused up front when it exceeds the machine's
 * memory: with overcommit the allocation could succeed and the run be killed
 * later. */
static float *new_tensor(DdimShape shape, GError **error) {
  size_t values = ddim_shape_elements(shape);
  guint64 memory = physical_memory();
  float *tensor = NULL;
  if (values && values <= G_MAXSIZE / sizeof(float) &&
      (memory == 0 || values * sizeof(float) <= memory))
    tensor = g_try_new(float, values);
  if (tensor == NULL)
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY,
                "%d images of %dx%d need more memory than this machine has", shape.n, shape.w,
                shape.h);
  return tensor;
}

static float *copy_floats(const float *values, size_t count, GError **error) {
  float *copy = g_try_new(float, count);
  if (copy == NULL)
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY, "not enough memory for %zu values", count);
  else
    memcpy(copy, values, count * sizeof(float));
  return copy;
}

/* ---- Masks -------------------------------------------------------------- */

/* Sets up a masked run from --mask (and --image: the known image, for
 * generate and decode; vary keeps its own input).  *mask and *known receive
 * what params points to. */
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

/* ---- Subcommands -------------------------------------------------------- */

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

static gboolean run_info(Cli *cli, GError **error) {
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

static gboolean run_eps(Cli *cli, GError **error) {
  if (!require_output(cli, FALSE, error)) return FALSE;
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

static gboolean run_generate(Cli *cli, GError **error) {
  const DdimModelInfo *info = cli->info;
  if (!require_output(cli, TRUE, error)) return FALSE;
  if (cli->save_xt_path && !cli_check_output(cli->save_xt_path, FALSE, error)) return FALSE;
  int count = 1, width = info->sample_width, height = info->sample_height;
  if (cli->count_text && !cli_parse_int(cli->count_text, "--count", 1, G_MAXINT, &count, error))
    return FALSE;
  if (cli->size_text && !cli_parse_size(cli->size_text, "--size", &width, &height, error))
    return FALSE;

  g_auto(CliTensor) x = {0};
  gboolean with_batch_dim;
  if (cli->xt_path) {
    if (!cli_load_latent(cli->model, &cli->params, cli->xt_path, &x, error)) return FALSE;
    if (cli->count_text && count != x.shape.n) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                  "--count %d does not match the %d latent(s) in %s", count, x.shape.n,
                  cli->xt_path);
      return FALSE;
    }
    if (cli->size_text && (width != x.shape.w || height != x.shape.h)) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                  "--size %dx%d does not match the %dx%d latents in %s", width, height, x.shape.w,
                  x.shape.h, cli->xt_path);
      return FALSE;
    }
    with_batch_dim = x.rank == 4;
  } else {
    DdimShape one = {1, info->in_channels, height, width};
    GError *shape_error = NULL;
    if (!ddim_params_check_shape(cli->model, &cli->params, one, &shape_error)) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT, "--size %dx%d: %s", width, height,
                  shape_error->message);
      g_error_free(shape_error);
      return FALSE;
    }
    /* Refuse a run that cannot fit before x_T is allocated and drawn. */
    if (!check_run_memory(cli, &cli->params, one, error)) return FALSE;
    x.shape = (DdimShape){count, info->in_channels, height, width};
    x.data = new_tensor(x.shape, error);
    if (x.data == NULL) return FALSE;
    ddim_noise(cli->params.seed, DDIM_STREAM_INITIAL, x.shape, x.data);
    with_batch_dim = count > 1;
  }
  DdimParams params = cli->params;
  g_autofree float *mask = NULL;
  g_auto(CliTensor) known = {0};
  if (!set_up_mask(cli, x.shape, TRUE, &params, &mask, &known, error)) return FALSE;
  if (cli->save_xt_path &&
      !ddim_npy_write(cli->save_xt_path, x.data, x.shape, with_batch_dim, error))
    return FALSE;
  announce_seed(cli, cli->xt_path == NULL);
  return run_batched(cli, RUN_DECODE, &params, x.data, x.shape, error) &&
         cli_save_images(cli->output, x.data, x.shape, with_batch_dim, x.shape.w, x.shape.h, error);
}

static gboolean run_encode(Cli *cli, GError **error) {
  if (!require_output(cli, FALSE, error)) return FALSE;
  g_auto(CliTensor) x = {0};
  if (!cli_load_image(cli->model, &cli->params, cli->inputs[0], cli->resize, &x, error))
    return FALSE;
  DdimParams params = ddim_params_for_encode(&cli->params);
  return run_batched(cli, RUN_ENCODE, &params, x.data, x.shape, error) &&
         ddim_npy_write(cli->output, x.data, x.shape, x.rank == 4, error);
}

static gboolean run_decode(Cli *cli, GError **error) {
  if (!require_output(cli, TRUE, error)) return FALSE;
  g_auto(CliTensor) x = {0};
  if (!cli_load_latent(cli->model, &cli->params, cli->inputs[0], &x, error)) return FALSE;
  DdimParams params = cli->params;
  g_autofree float *mask = NULL;
  g_auto(CliTensor) known = {0};
  if (!set_up_mask(cli, x.shape, TRUE, &params, &mask, &known, error)) return FALSE;
  announce_seed(cli, FALSE);
  return run_batched(cli, RUN_DECODE, &params, x.data, x.shape, error) &&
         cli_save_images(cli->output, x.data, x.shape, x.rank == 4, x.shape.w, x.shape.h, error);
}

static gboolean run_reconstruct(Cli *cli, GError **error) {
  if (!require_output(cli, TRUE, error)) return FALSE;
  g_auto(CliTensor) x = {0};
  if (!cli_load_image(cli->model, &cli->params, cli->inputs[0], cli->resize, &x, error))
    return FALSE;
  size_t count = ddim_shape_elements(x.shape);
  g_autofree float *original = copy_floats(x.data, count, error);
  if (original == NULL) return FALSE;
  DdimParams encode = ddim_params_for_encode(&cli->params);
  DdimParams decode = ddim_params_for_inverse_decode(&cli->params);
  announce_seed(cli, FALSE);
  if (!run_batched(cli, RUN_ENCODE, &encode, x.data, x.shape, error) ||
      !run_batched(cli, RUN_DECODE, &decode, x.data, x.shape, error))
    return FALSE;
  /* Measured in model space, before the 8-bit quantisation of a PNG. */
  double mse = ddim_mse_01(original, x.data, count);
  double psnr = ddim_psnr_from_mse(mse);
  if (!cli_save_images(cli->output, x.data, x.shape, x.rank == 4, x.file_width, x.file_height,
                       error))
    return FALSE;
  char mse_text[G_ASCII_DTOSTR_BUF_SIZE], psnr_text[G_ASCII_DTOSTR_BUF_SIZE];
  g_ascii_formatd(mse_text, sizeof mse_text, "%.6g", mse);
  g_ascii_formatd(psnr_text, sizeof psnr_text, "%.2f", psnr);
  g_print("mse=%s psnr=%s\n", mse_text, psnr_text);
  return TRUE;
}

static gboolean run_vary(Cli *cli, GError **error) {
  if (!require_output(cli, TRUE, error)) return FALSE;
  g_auto(CliTensor) x = {0};
  if (!cli_load_image(cli->model, &cli->params, cli->inputs[0], cli->resize, &x, error))
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
  DdimParams params = cli->params;
  g_autofree float *mask = NULL;
  if (!set_up_mask(cli, x.shape, FALSE, &params, &mask, NULL, error)) return FALSE;
  announce_seed(cli, TRUE);
  return run_batched(cli, RUN_VARY, &params, x.data, x.shape, error) &&
         cli_save_images(cli->output, x.data, x.shape, x.rank == 4, x.file_width, x.file_height,
                         error);
}

static gboolean run_interpolate(Cli *cli, GError **error) {
  if (!require_output(cli, TRUE, error)) return FALSE;
  if (cli->frames_text == NULL) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "interpolate needs --frames K (2 or more, the ends included)");
    return FALSE;
  }
  int frames;
  if (!cli_parse_int(cli->frames_text, "--frames", 2, 4096, &frames, error)) return FALSE;
  g_auto(CliTensor) a = {0};
  g_auto(CliTensor) b = {0};
  if (!cli_load_image(cli->model, &cli->params, cli->inputs[0], cli->resize, &a, error) ||
      !cli_load_image(cli->model, &cli->params, cli->inputs[1], cli->resize, &b, error))
    return FALSE;
  for (int i = 0; i < 2; i++) {
    const CliTensor *end = i == 0 ? &a : &b;
    if (end->shape.n != 1) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                  "%s: holds %d images; interpolate needs one at each end", cli->inputs[i],
                  end->shape.n);
      return FALSE;
    }
  }
  if (a.file_width != b.file_width || a.file_height != b.file_height || a.shape.w != b.shape.w ||
      a.shape.h != b.shape.h) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "%s is %dx%d and %s is %dx%d; interpolate needs two images of the same size",
                cli->inputs[0], a.file_width, a.file_height, cli->inputs[1], b.file_width,
                b.file_height);
    return FALSE;
  }
  /* Both ends are encoded in one batch of two. */
  size_t image_values = ddim_shape_elements(a.shape);
  DdimShape ends_shape = a.shape;
  ends_shape.n = 2;
  DdimShape frames_shape = a.shape;
  frames_shape.n = frames;
  g_autofree float *ends = new_tensor(ends_shape, error);
  if (ends == NULL) return FALSE;
  g_autofree float *sequence = new_tensor(frames_shape, error);
  if (sequence == NULL) return FALSE;
  memcpy(ends, a.data, image_values * sizeof(float));
  memcpy(ends + image_values, b.data, image_values * sizeof(float));
  DdimParams encode = ddim_params_for_encode(&cli->params);
  announce_seed(cli, FALSE);
  if (!run_batched(cli, RUN_ENCODE, &encode, ends, ends_shape, error)) return FALSE;
  for (int k = 0; k < frames; k++)
    ddim_slerp(ends, ends + image_values, image_values, (double)k / (frames - 1),
               sequence + (size_t)k * image_values);
  DdimParams decode = ddim_params_for_inverse_decode(&cli->params);
  return run_batched(cli, RUN_DECODE, &decode, sequence, frames_shape, error) &&
         cli_save_images(cli->output, sequence, frames_shape, TRUE, a.file_width, a.file_height,
                         error);
}

static gboolean run_convert(Cli *cli, GError **error) {
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

/* ---- The command line --------------------------------------------------- */

static const char model_note[] =
    "MODEL is a diffusers UNet2DModel folder (config.json and "
    "diffusion_pytorch_model.safetensors\n"
    "or .bin), a pipeline folder holding unet/, or a weights file: .safetensors, a PyTorch\n"
    ".bin/.ckpt/.pt (read without running any code; original DDPM/DDIM checkpoints too) or a\n"
    "shard index.  --config FILE|NAME forces the network config (NAME: cifar10, celeba, lsun).\n"
    "MODEL may be left out when $DDIM_MODEL names one or the default model (" DEFAULT_MODEL_NAME
    ")\nis installed.\n"
    "Images are .png or .npy (float32 (C,H,W) or (N,C,H,W) in [-1, 1]); latents are .npy.";

static const Command commands[] = {
    {"info", "MODEL", 1, 0, 1.0, "Describe a model: size, channels, schedule, files, memory.", NULL,
     run_info},
    {"eps", "MODEL X.npy", 2, OPT_OUTPUT | OPT_TIMESTEP, 1.0,
     "Evaluate the network once: write eps(X, T) for every image of X.npy.",
     "The output has the same rank as the input.", run_eps},
    {"generate", "MODEL", 1, OPT_SAMPLING | OPT_OUTPUT | OPT_GENERATE | OPT_MASK, 1.0,
     "Sample new images from Gaussian noise.",
     "With --count K, OUT may hold %d or %03d for the image number; otherwise -000, -001, ...\n"
     "goes before the extension.  A .npy OUT holds all K images in one (K,C,H,W) file.\n"
     "All images are sampled as one batch when memory allows.",
     run_generate},
    {"encode", "MODEL IN", 2, OPT_SAMPLING | OPT_OUTPUT | OPT_STRENGTH | OPT_RESIZE, 1.0,
     "Invert an image to its DDIM latent x_T (deterministic).",
     "--strength F stops the inversion at that fraction of the schedule.", run_encode},
    {"decode", "MODEL XT.npy", 2, OPT_SAMPLING | OPT_OUTPUT | OPT_STRENGTH | OPT_MASK, 1.0,
     "Sample images from latents (e.g. from encode or --save-xt).",
     "--strength F starts from that fraction of the schedule, to match an encode with it.",
     run_decode},
    {"reconstruct", "MODEL IN", 2, OPT_SAMPLING | OPT_OUTPUT | OPT_STRENGTH | OPT_RESIZE, 1.0,
     "Encode an image and decode it again; print how close the result is.",
     "The last line printed is 'mse=<v> psnr=<dB>', measured on the [0, 1] scale in model\n"
     "space before 8-bit quantisation.  The encode never clips.",
     run_reconstruct},
    {"vary", "MODEL IN", 2, OPT_SAMPLING | OPT_OUTPUT | OPT_STRENGTH | OPT_RESIZE | OPT_MASK, 0.5,
     "Make a variation of an image (SDEdit): add noise up to --strength, then denoise.",
     "--strength F (default 0.5): 0 keeps the image, 1 replaces it entirely.", run_vary},
    {"interpolate", "MODEL A B", 3, OPT_SAMPLING | OPT_OUTPUT | OPT_RESIZE | OPT_FRAMES, 1.0,
     "Encode two images and decode K frames along the spherical path between their latents.",
     "The frames include both ends.  OUT names them like generate --count does.", run_interpolate},
    {"convert", "MODEL", 1, OPT_OUTPUT | OPT_DTYPE, 1.0,
     "Write a model (e.g. a PyTorch .bin/.ckpt) as a diffusers safetensors folder.",
     "-o OUT_DIR receives config.json, diffusion_pytorch_model.safetensors and\n"
     "scheduler_config.json; the folder then opens without unpickling anything and gives\n"
     "bit-identical results.  --dtype f32 (default) stores float32, --dtype source keeps\n"
     "each tensor's stored dtype.",
     run_convert},
};

static gboolean on_clip_option(const char *option_name, const char *value, gpointer data,
                               GError **error) {
  (void)value;
  (void)error;
  Cli *cli = data;
  cli->clip = strcmp(option_name, "--clip") == 0 ? 1 : 0;
  return TRUE;
}

/* The option table of one subcommand. */
static GOptionEntry *command_entries(Cli *cli) {
  guint options = cli->command->options;
  GArray *entries = g_array_new(TRUE, TRUE, sizeof(GOptionEntry));
#define ADD(long_name, short_name, flags, arg, data, description, arg_description)                 \
  do {                                                                                             \
    GOptionEntry entry = {long_name, short_name, flags, arg, data, description, arg_description};  \
    g_array_append_val(entries, entry);                                                            \
  } while (0)
  if (options & OPT_OUTPUT)
    ADD("output", 'o', 0, G_OPTION_ARG_FILENAME, &cli->output, "Write the result to OUT", "OUT");
  if (options & OPT_TIMESTEP)
    ADD("timestep", 0, 0, G_OPTION_ARG_STRING, &cli->timestep_text,
        "The timestep to evaluate at, from 0 to T-1", "T");
  if (options & OPT_GENERATE) {
    ADD("count", 0, 0, G_OPTION_ARG_STRING, &cli->count_text,
        "Number of images to generate (default 1)", "K");
    ADD("size", 0, 0, G_OPTION_ARG_STRING, &cli->size_text, "Image size (default: the model's own)",
        "WxH");
    ADD("xt", 0, 0, G_OPTION_ARG_FILENAME, &cli->xt_path,
        "Start from these latents instead of fresh noise", "XT.npy");
    ADD("save-xt", 0, 0, G_OPTION_ARG_FILENAME, &cli->save_xt_path,
        "Also write the starting noise x_T", "XT.npy");
  }
  if (options & OPT_DTYPE)
    ADD("dtype", 0, 0, G_OPTION_ARG_STRING, &cli->dtype_text,
        "Tensor dtype of the converted weights: f32 (default) or source", "DTYPE");
  if (options & OPT_FRAMES)
    ADD("frames", 0, 0, G_OPTION_ARG_STRING, &cli->frames_text,
        "Number of frames, both ends included (2 or more)", "K");
  if (options & OPT_STRENGTH)
    ADD("strength", 0, 0, G_OPTION_ARG_STRING, &cli->strength_text,
        "Fraction of the schedule to run, in (0, 1]", "F");
  if (options & OPT_RESIZE)
    ADD("resize", 0, 0, G_OPTION_ARG_NONE, &cli->resize,
        "Scale a PNG to the model's size, and the result back to the PNG's", NULL);
  if (options & OPT_MASK) {
    ADD("mask", 0, 0, G_OPTION_ARG_FILENAME, &cli->mask_path,
        "Regenerate only where MASK is set (PNG or .npy, the image's size; 0 keeps, 1 "
        "regenerates, values between blend)",
        "MASK");
    ADD("mask-keep", 0, 0, G_OPTION_ARG_STRING, &cli->mask_keep_text,
        "What the kept region follows: forward (its forward-noised version, default) or "
        "inversion (its DDIM inversion)",
        "HOW");
    if (strcmp(cli->command->name, "vary") != 0)
      ADD("image", 0, 0, G_OPTION_ARG_FILENAME, &cli->known_path,
          "With --mask: the image whose pixels outside the mask are kept", "IN");
  }
  if (options & OPT_SAMPLING) {
    ADD("tile", 0, 0, G_OPTION_ARG_STRING, &cli->tile_text,
        "Tile side in pixels for images larger than a tile (default 0: the model's resolution, "
        "untiled up to it)",
        "N");
    ADD("overlap", 0, 0, G_OPTION_ARG_STRING, &cli->overlap_text,
        "Pixels neighbouring tiles share (default: a quarter tile)", "N");
    ADD("steps", 0, 0, G_OPTION_ARG_STRING, &cli->steps_text, "Number of DDIM steps (default 50)",
        "N");
    ADD("eta", 0, 0, G_OPTION_ARG_STRING, &cli->eta_text,
        "Noise of each step: 0 deterministic DDIM (default) to 1 DDPM-like", "E");
    ADD("schedule", 0, 0, G_OPTION_ARG_STRING, &cli->schedule_text,
        "Timesteps: uniform (default), quadratic, trailing or linspace", "NAME");
    ADD("clip", 0, G_OPTION_FLAG_NO_ARG, G_OPTION_ARG_CALLBACK, on_clip_option,
        "Clip the predicted x0 (default: the scheduler config's clip_sample)", NULL);
    ADD("no-clip", 0, G_OPTION_FLAG_NO_ARG, G_OPTION_ARG_CALLBACK, on_clip_option,
        "Do not clip the predicted x0", NULL);
    ADD("seed", 0, 0, G_OPTION_ARG_STRING, &cli->seed_text,
        "Seed of the noise; image k uses N+k (default: random, printed as seed=N)", "N");
    ADD("preview-every", 0, 0, G_OPTION_ARG_STRING, &cli->preview_every_text,
        "Every N network evaluations (and after the last), write the predicted image x0 "
        "(first of the batch) to the --preview PNG (default 0: never)",
        "N");
    ADD("preview", 0, 0, G_OPTION_ARG_FILENAME, &cli->preview_path,
        "The preview PNG (default: OUT with -preview.png for its extension, e.g. "
        "out-preview.png)",
        "FILE");
  }
  ADD("config", 0, 0, G_OPTION_ARG_FILENAME, &cli->config,
      "Network config: a config.json, or cifar10, celeba or lsun (official DDPM/DDIM)",
      "FILE|NAME");
  ADD("threads", 0, 0, G_OPTION_ARG_STRING, &cli->threads_text,
      "Number of threads (default: all cores)", "N");
  ADD("convolutions", 0, 0, G_OPTION_ARG_STRING, &cli->convolutions_text,
      "How the large 3×3 convolutions run: default (Winograd F(2×2,3×3), as accurate "
      "as direct), direct, or fast (Winograd F(4×4,3×3): faster, about two digits less precise)",
      "HOW");
  ADD("max-memory", 0, 0, G_OPTION_ARG_STRING, &cli->max_memory_text,
      "Refuse runs that need more memory than SIZE (e.g. 2G)", "SIZE");
  ADD(G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &cli->positionals, NULL, NULL);
#undef ADD
  return (GOptionEntry *)(void *)g_array_free(entries, FALSE);
}

static gboolean parse_command_line(Cli *cli, int argc, char **argv, GError **error) {
  const Command *command = cli->command;
  g_autofree char *program = g_strdup_printf("ddim %s", command->name);
  g_set_prgname(program);
  /* MODEL may be left out (the default model), so the usage shows it optional. */
  g_autofree char *usage = g_strconcat("[MODEL]", command->arguments + strlen("MODEL"), NULL);
  g_autoptr(GOptionContext) context = g_option_context_new(usage);
  GOptionGroup *group =
      g_option_group_new(command->name, command->summary, command->summary, cli, NULL);
  g_autofree GOptionEntry *entries = command_entries(cli);
  g_option_group_add_entries(group, entries);
  g_option_context_set_main_group(context, group);
  g_option_context_set_summary(context, command->summary);
  g_autofree char *description = command->description
                                     ? g_strconcat(command->description, "\n\n", model_note, NULL)
                                     : g_strdup(model_note);
  g_option_context_set_description(context, description);

  /* argv[0] of the subcommand is "ddim NAME". */
  g_auto(GStrv) args = g_new0(char *, argc + 1);
  args[0] = g_strdup(program);
  for (int i = 2; i < argc; i++) args[i - 1] = g_strdup(argv[i]);
  GError *parse_error = NULL;
  if (!g_option_context_parse_strv(context, &args, &parse_error)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT, "%s (see 'ddim %s --help')",
                parse_error->message, command->name);
    g_error_free(parse_error);
    return FALSE;
  }
  return TRUE;
}

static char *default_model(GError **error) {
  const char *from_environment = g_getenv("DDIM_MODEL");
  if (from_environment && *from_environment) return g_strdup(from_environment);
  const char *candidates[] = {DDIM_MODEL_INSTALL_DIR "/" DEFAULT_MODEL_NAME,
                              DDIM_SOURCE_MODEL_DIR "/" DEFAULT_MODEL_NAME};
  for (guint i = 0; i < G_N_ELEMENTS(candidates); i++)
    if (g_file_test(candidates[i], G_FILE_TEST_EXISTS)) return g_strdup(candidates[i]);
  g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
              "no MODEL given and no default model: set DDIM_MODEL or install %s", candidates[0]);
  return NULL;
}

/* After every network evaluation: the bar on stderr, and the preview PNG
 * when one is due (a failed write stops the run). */
static gboolean report_progress(const DdimProgress *report, gpointer data) {
  Cli *cli = data;
  cli_progress_report(report, &cli->progress);
  return cli_preview_report(&cli->preview, report);
}

/* Turns the option texts into values, then loads the model. */
static gboolean set_up(Cli *cli, GError **error) {
  const Command *command = cli->command;
  /* Threads first: everything after may already use them. */
  if (cli->threads_text) {
    int threads;
    if (!cli_parse_int(cli->threads_text, "--threads", 0, 4096, &threads, error)) return FALSE;
    ddim_set_threads(threads);
  }
  DdimParams *params = &cli->params;
  ddim_params_init(params);
  params->clip = cli->clip;
  params->strength = command->default_strength;
  if (cli->steps_text &&
      !cli_parse_int(cli->steps_text, "--steps", 1, G_MAXINT, &params->steps, error))
    return FALSE;
  if (cli->eta_text && !cli_parse_double(cli->eta_text, "--eta", 0.0, 1.0, &params->eta, error))
    return FALSE;
  if (cli->strength_text &&
      !cli_parse_double(cli->strength_text, "--strength", 0.0, 1.0, &params->strength, error))
    return FALSE;
  if (params->strength <= 0.0) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "--strength: must be above 0 (and at most 1)");
    return FALSE;
  }
  if (cli->schedule_text && !ddim_schedule_from_name(cli->schedule_text, &params->schedule)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "--schedule: unknown schedule '%s' (use uniform, quadratic, trailing or "
                "linspace)",
                cli->schedule_text);
    return FALSE;
  }
  cli->seed_given = cli->seed_text != NULL;
  if (cli->seed_given) {
    if (!cli_parse_uint64(cli->seed_text, "--seed", &params->seed, error)) return FALSE;
  } else {
    /* 32 bits: short enough to retype from the printed seed=N. */
    params->seed = g_random_int();
  }
  if (cli->max_memory_text &&
      !cli_parse_memory(cli->max_memory_text, "--max-memory", &cli->max_memory, error))
    return FALSE;
  if (cli->tile_text && !cli_parse_int(cli->tile_text, "--tile", 0, 16384, &params->tile, error))
    return FALSE;
  if (cli->overlap_text &&
      !cli_parse_int(cli->overlap_text, "--overlap", 0, 16384, &params->overlap, error))
    return FALSE;
  if (cli->mask_keep_text && !ddim_mask_keep_from_name(cli->mask_keep_text, &params->mask_keep)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "--mask-keep: unknown value '%s' (use inversion or forward)", cli->mask_keep_text);
    return FALSE;
  }

  int given = cli->positionals ? (int)g_strv_length(cli->positionals) : 0;
  if (given == command->argument_count) {
    cli->model_path = g_strdup(cli->positionals[0]);
    cli->inputs = (const char *const *)cli->positionals + 1;
  } else if (given == command->argument_count - 1) {
    cli->model_path = default_model(error);
    if (cli->model_path == NULL) return FALSE;
    cli->inputs = (const char *const *)cli->positionals;
  } else {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "%s takes %s, not %d argument%s (see 'ddim %s --help')", command->name,
                command->arguments, given, given == 1 ? "" : "s", command->name);
    return FALSE;
  }

  cli->model = ddim_model_load_with_config(cli->model_path, cli->config, error);
  if (cli->model == NULL) return FALSE;
  cli->info = ddim_model_get_info(cli->model);
  if (cli->max_memory) ddim_model_set_memory_limit(cli->model, cli->max_memory);
  if (cli->convolutions_text) {
    DdimConvolutions convolutions;
    if (!ddim_convolutions_from_name(cli->convolutions_text, &convolutions)) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                  "--convolutions: '%s' is not default, direct or fast", cli->convolutions_text);
      return FALSE;
    }
    ddim_model_set_convolutions(cli->model, convolutions);
  }
  cli_progress_init(&cli->progress);
  if (!cli_preview_init(&cli->preview, cli->preview_every_text, cli->preview_path, cli->output,
                        error))
    return FALSE;
  params->progress = report_progress;
  params->progress_data = cli;
  return TRUE;
}

static void cli_clear(Cli *cli) {
  g_free(cli->output);
  g_free(cli->xt_path);
  g_free(cli->save_xt_path);
  g_free(cli->steps_text);
  g_free(cli->eta_text);
  g_free(cli->schedule_text);
  g_free(cli->seed_text);
  g_free(cli->threads_text);
  g_free(cli->max_memory_text);
  g_free(cli->convolutions_text);
  g_free(cli->count_text);
  g_free(cli->size_text);
  g_free(cli->strength_text);
  g_free(cli->timestep_text);
  g_free(cli->frames_text);
  g_free(cli->config);
  g_free(cli->dtype_text);
  g_free(cli->preview_every_text);
  g_free(cli->preview_path);
  cli_preview_clear(&cli->preview);
  g_free(cli->tile_text);
  g_free(cli->overlap_text);
  g_free(cli->mask_path);
  g_free(cli->mask_keep_text);
  g_free(cli->known_path);
  g_strfreev(cli->positionals);
  g_free(cli->model_path);
  g_clear_pointer(&cli->model, ddim_model_free);
  cli_progress_clear(&cli->progress);
}

static void print_usage(FILE *stream) {
  fprintf(stream, "Usage: ddim SUBCOMMAND [OPTION...] MODEL ...\n\n"
                  "DDIM sampling with a diffusers UNet2DModel on the CPU.\n\nSubcommands:\n");
  for (guint i = 0; i < G_N_ELEMENTS(commands); i++)
    fprintf(stream, "  %-12s %s\n", commands[i].name, commands[i].summary);
  fprintf(
      stream,
      "\nCommon options: --steps N (50) --eta E (0) --schedule NAME (uniform) --seed N\n"
      "  --clip/--no-clip --tile N --overlap N --threads N --max-memory SIZE --convolutions HOW\n"
      "  --config FILE|NAME\n"
      "  --preview-every N --preview FILE (x0 as a PNG during a run; default OUT-preview.png)\n\n"
      "'ddim SUBCOMMAND --help' describes a subcommand; 'ddim --version' prints the "
      "version.\n\n%s\n",
      model_note);
}

/* An error message fit for one line of a terminal: text quoted from a
 * hostile file (a tensor name, a dtype, a path) may hold newlines or escape
 * sequences, and may be megabytes long. */
#define MAX_MESSAGE_CHARS 1000
static char *printable_message(const char *message) {
  g_autofree char *valid = g_utf8_make_valid(message, -1);
  GString *out = g_string_new(NULL);
  const char *p = valid;
  for (glong chars = 0; *p && chars < MAX_MESSAGE_CHARS; p = g_utf8_next_char(p), chars++) {
    gunichar c = g_utf8_get_char(p);
    if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0))
      g_string_append_printf(out, "\\x%02x", (unsigned)c);
    else
      g_string_append_unichar(out, c);
  }
  if (*p) g_string_append(out, "…");
  return g_string_free(out, FALSE);
}

static const Command *find_command(const char *name) {
  for (guint i = 0; i < G_N_ELEMENTS(commands); i++)
    if (strcmp(commands[i].name, name) == 0) return &commands[i];
  return NULL;
}

int main(int argc, char **argv) {
  setlocale(LC_ALL, "");
  if (argc < 2) {
    g_printerr("ddim: no subcommand given (see 'ddim --help')\n");
    return 1;
  }
  const char *name = argv[1];
  if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "-?") == 0 ||
      (strcmp(name, "help") == 0 && argc == 2)) {
    print_usage(stdout);
    return 0;
  }
  if (strcmp(name, "--version") == 0) {
    g_print("ddim %s\n", DDIM_VERSION);
    return 0;
  }
  /* "ddim help SUBCOMMAND" is "ddim SUBCOMMAND --help". */
  char *help_argv[] = {argv[0], argc > 2 ? argv[2] : NULL, "--help", NULL};
  if (strcmp(name, "help") == 0) {
    argv = help_argv;
    argc = 3;
    name = argv[1];
  }
  Cli cli = {.command = find_command(name), .clip = -1};
  if (cli.command == NULL) {
    g_printerr("ddim: unknown subcommand '%s' (see 'ddim --help')\n", name);
    return 1;
  }
  GError *error = NULL;
  gboolean ok = parse_command_line(&cli, argc, argv, &error) && set_up(&cli, &error) &&
                cli.command->run(&cli, &error);
  if (!ok) {
    cli_progress_finish(&cli.progress);
    /* A failed preview write cancels the run: say why, not "cancelled". */
    const GError *reported = cli.preview.error ? cli.preview.error : error;
    g_autofree char *message = printable_message(reported ? reported->message : "failed");
    g_printerr("ddim: %s\n", message);
    g_clear_error(&error);
  }
  cli_clear(&cli);
  return ok ? 0 : 1;
}
