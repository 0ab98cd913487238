/* model.c — how a model folder is found, loaded and described.
 *
 * Layouts (diffusers): a UNet2DModel folder (config.json + weights,
 * scheduler_config.json beside it or in ../scheduler/), a pipeline folder
 * with unet/ (and scheduler/), or a weights file given directly, with
 * config.json beside it.  Weights are diffusion_pytorch_model.safetensors,
 * else a shard index, else diffusion_pytorch_model.bin (or the only
 * checkpoint file); a file's format is told from its bytes.  Original
 * DDPM/DDIM checkpoints are renamed to diffusers keys, and without a
 * config.json their config is inferred from the tensor shapes. */
#include "model.h"

#include "ddim-convert.h"
#include "ddpm-original.h"
#include "json-util.h"
#include "torch-checkpoint.h"

#include <math.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define WEIGHTS_NAME "diffusion_pytorch_model.safetensors"
#define SAFETENSORS_INDEX_NAME "diffusion_pytorch_model.safetensors.index.json"
#define BIN_NAME "diffusion_pytorch_model.bin"
#define BIN_INDEX_NAME "diffusion_pytorch_model.bin.index.json"
#define MAX_CONFIG_BYTES (16 * 1024 * 1024)

static gboolean is_file(const char *path) {
  return g_file_test(path, G_FILE_TEST_IS_REGULAR);
}

static gboolean is_checkpoint_name(const char *name) {
  return g_str_has_suffix(name, ".bin") || g_str_has_suffix(name, ".ckpt") ||
         g_str_has_suffix(name, ".pt") || g_str_has_suffix(name, ".pth");
}

/* The weights of a UNet folder: the standard safetensors name, else the
 * only *.safetensors (e.g. the .fp16 variant), else a safetensors shard
 * index, else the standard .bin, a .bin shard index, or the only PyTorch
 * checkpoint file there. */
static char *find_weights(const char *folder, GError **error) {
  const char *preferred[] = {WEIGHTS_NAME, NULL};
  const char *fallbacks[] = {SAFETENSORS_INDEX_NAME, BIN_NAME, BIN_INDEX_NAME, NULL};
  for (int i = 0; preferred[i]; i++) {
    g_autofree char *standard = g_build_filename(folder, preferred[i], NULL);
    if (is_file(standard)) return g_steal_pointer(&standard);
  }
  g_autoptr(GDir) dir = g_dir_open(folder, 0, NULL);
  g_autofree char *safetensors = NULL, *checkpoint = NULL;
  int safetensors_count = 0, checkpoint_count = 0;
  for (const char *name; dir && (name = g_dir_read_name(dir));) {
    if (g_str_has_suffix(name, ".safetensors")) {
      if (!safetensors_count++) safetensors = g_build_filename(folder, name, NULL);
    } else if (is_checkpoint_name(name)) {
      if (!checkpoint_count++) checkpoint = g_build_filename(folder, name, NULL);
    }
  }
  if (safetensors_count == 1) return g_steal_pointer(&safetensors);
  for (int i = 0; fallbacks[i]; i++) {
    g_autofree char *candidate = g_build_filename(folder, fallbacks[i], NULL);
    if (is_file(candidate)) return g_steal_pointer(&candidate);
  }
  if (safetensors_count > 1)
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                "%s: several .safetensors files and no %s; give the file to use", folder,
                WEIGHTS_NAME);
  else if (checkpoint_count == 1)
    return g_steal_pointer(&checkpoint);
  else if (checkpoint_count > 1)
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                "%s: several PyTorch checkpoint files and no %s; give the file to use", folder,
                BIN_NAME);
  else
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO, "%s: no %s or %s in this folder", folder,
                WEIGHTS_NAME, BIN_NAME);
  return NULL;
}

typedef struct {
  char *config, *weights, *scheduler;
} ModelFiles;

static void model_files_clear(ModelFiles *files) {
  g_free(files->config);
  g_free(files->weights);
  g_free(files->scheduler);
}

/* Whatever exists is used: a scheduler_config.json that is a folder, a FIFO
 * or a device is then refused when read, not silently replaced by defaults. */
static char *first_existing(const char *a, const char *b) {
  if (a && g_file_test(a, G_FILE_TEST_EXISTS)) return g_strdup(a);
  if (b && g_file_test(b, G_FILE_TEST_EXISTS)) return g_strdup(b);
  return NULL;
}

/* The files of a model; files->config stays NULL for a weights file with no
 * config.json beside it (an original checkpoint's config can be inferred). */
static gboolean resolve(const char *path, ModelFiles *files, GError **error) {
  memset(files, 0, sizeof *files);
  if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
    g_autofree char *unet = g_build_filename(path, "unet", NULL);
    g_autofree char *config = g_build_filename(path, "config.json", NULL);
    const char *folder = path;
    g_autofree char *scheduler_beside = NULL, *scheduler_parent = NULL;
    if (!is_file(config) && g_file_test(unet, G_FILE_TEST_IS_DIR)) {
      /* Pipeline folder: unet/ + scheduler/. */
      folder = unet;
      g_free(config);
      config = g_build_filename(unet, "config.json", NULL);
      scheduler_parent = g_build_filename(path, "scheduler", "scheduler_config.json", NULL);
    } else {
      scheduler_parent = g_build_filename(path, "..", "scheduler", "scheduler_config.json", NULL);
    }
    scheduler_beside = g_build_filename(folder, "scheduler_config.json", NULL);
    if (!is_file(config)) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO,
                  "%s: not a model folder (no config.json, and no unet/ folder)", path);
      return FALSE;
    }
    files->weights = find_weights(folder, error);
    if (!files->weights) return FALSE;
    files->config = g_steal_pointer(&config);
    files->scheduler = first_existing(scheduler_beside, scheduler_parent);
    return TRUE;
  }
  if (is_file(path)) {
    g_autofree char *folder = g_path_get_dirname(path);
    g_autofree char *config = g_build_filename(folder, "config.json", NULL);
    g_autofree char *beside = g_build_filename(folder, "scheduler_config.json", NULL);
    g_autofree char *parent =
        g_build_filename(folder, "..", "scheduler", "scheduler_config.json", NULL);
    files->config = is_file(config) ? g_steal_pointer(&config) : NULL;
    files->weights = g_strdup(path);
    files->scheduler = first_existing(beside, parent);
    return TRUE;
  }
  g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO, "%s: no such model file or folder", path);
  return FALSE;
}

/* A stable identity for latents: SHA-256 of config.json and the weights —
 * for a safetensors file its header and 64 evenly spread 4 KiB samples of
 * the tensor data; for other tables every tensor's name, dtype, shape and
 * first 256 bytes. */
static char *compute_identity(const char *config_text, const DdimSafetensors *weights) {
  g_autoptr(GChecksum) checksum = g_checksum_new(G_CHECKSUM_SHA256);
  if (config_text)
    g_checksum_update(checksum, (const guchar *)config_text, (gssize)strlen(config_text));
  if (!weights->bytes) {
    for (int i = 0; i < weights->n_tensors; i++) {
      const DdimStTensor *tensor = &weights->tensors[i];
      g_autoptr(GString) header = g_string_new(NULL);
      g_string_append_printf(header, "%s\n%s\n", tensor->name, tensor->dtype_name);
      for (int d = 0; d < tensor->rank; d++)
        g_string_append_printf(header, "%" G_GINT64_FORMAT ",", tensor->shape[d]);
      g_checksum_update(checksum, (const guchar *)header->str, (gssize)header->len);
      g_checksum_update(checksum, tensor->data, (gssize)MIN(tensor->nbytes, 256));
    }
    return g_strndup(g_checksum_get_string(checksum), 32);
  }
  g_checksum_update(checksum, weights->bytes, (gssize)(8 + weights->header_length));
  size_t data_start = 8 + weights->header_length;
  size_t data_size = weights->size - data_start;
  const size_t sample = 4096;
  for (int i = 0; i < 64 && data_size > 0; i++) {
    size_t offset = data_size > sample ? (data_size - sample) / 63 * (size_t)i : 0;
    size_t length = data_size - offset < sample ? data_size - offset : sample;
    g_checksum_update(checksum, weights->bytes + data_start + offset, (gssize)length);
  }
  return g_strndup(g_checksum_get_string(checksum), 32);
}

static const char *weights_dtype(const DdimSafetensors *weights) {
  const char *dtype = NULL;
  for (int i = 0; i < weights->n_tensors; i++) {
    const char *name = weights->tensors[i].dtype_name;
    if (!dtype)
      dtype = name;
    else if (strcmp(dtype, name) != 0)
      return "mixed";
  }
  return dtype ? dtype : "none";
}

/* Whether a little-endian F32/F16/BF16 value is NaN or infinite: its
 * exponent bits are all ones. */
static gboolean value_not_finite(const guint8 *bytes, DdimDtype dtype) {
  switch (dtype) {
  case DDIM_DTYPE_F32:
    return ((bytes[3] & 0x7f) == 0x7f) && (bytes[2] & 0x80);
  case DDIM_DTYPE_F16:
    return (bytes[1] & 0x7c) == 0x7c;
  case DDIM_DTYPE_BF16:
    return ((bytes[1] & 0x7f) == 0x7f) && (bytes[0] & 0x80);
  case DDIM_DTYPE_OTHER:
  default:
    return FALSE;
  }
}

/* A NaN or infinite weight makes every output NaN: refuse the file, naming
 * the tensor, rather than write black images. */
static gboolean check_weights_finite(const DdimSafetensors *weights, GError **error) {
  for (int i = 0; i < weights->n_tensors; i++) {
    const DdimStTensor *tensor = &weights->tensors[i];
    if (tensor->dtype == DDIM_DTYPE_OTHER || tensor->elements == 0) continue;
    uint64_t item = tensor->nbytes / tensor->elements;
    for (uint64_t e = 0; e < tensor->elements; e++)
      if (value_not_finite(tensor->data + e * item, tensor->dtype)) {
        g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                    "%s: tensor \"%s\" holds a NaN or infinite value (element %" G_GUINT64_FORMAT
                    ")",
                    weights->path, tensor->name, e);
        return FALSE;
      }
    /* The network holds its own float32 copy of an F16/BF16 tensor (unet.c
     * converted it already): its file pages need not stay resident. */
    if (tensor->dtype != DDIM_DTYPE_F32) ddim_st_release_tensor_pages(weights, tensor);
  }
  return TRUE;
}

/* config.json text; a NUL inside would hide the rest from the parser. */
static gboolean read_config(const char *path, char **text, GError **error) {
  gsize length = 0;
  if (!ddim_json_read_file(path, MAX_CONFIG_BYTES, text, &length, error)) return FALSE;
  if (strlen(*text) != length) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: not a text file", path);
    g_clear_pointer(text, g_free);
    return FALSE;
  }
  return TRUE;
}

/* The config forced by the caller: a config.json file, or an official name. */
static gboolean forced_config(DdimModel *model, const char *config, char **origin, GError **error) {
  if (is_file(config)) {
    g_free(model->config_path);
    model->config_path = g_strdup(config);
    *origin = g_strdup_printf("config from %s", config);
    return read_config(config, &model->config_text, error);
  }
  g_clear_pointer(&model->config_path, g_free);
  model->config_text = ddim_ddpm_official_config(config, origin);
  if (!model->config_text) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "config \"%s\" is neither a config.json file nor an official config (%s)", config,
                ddim_ddpm_official_names());
    return FALSE;
  }
  return TRUE;
}

static gboolean load_weights(DdimModel *model, char **description, gboolean *original,
                             GError **error) {
  model->weights = ddim_weights_open(model->weights_path, description, error);
  if (!model->weights) return FALSE;
  *original = ddim_ddpm_original_detect(model->weights);
  return !*original || ddim_ddpm_original_to_diffusers(model->weights, error);
}

DdimModel *ddim_model_load_with_config(const char *path, const char *config, GError **error) {
  g_return_val_if_fail(path != NULL, NULL);
  ModelFiles files;
  if (!resolve(path, &files, error)) {
    model_files_clear(&files);
    return NULL;
  }
  g_autoptr(DdimModel) model = g_new0(DdimModel, 1);
  model->config_path = files.config;
  model->weights_path = files.weights;
  model->scheduler_path = files.scheduler;

  /* A config file is read first, so its errors come before the weights'. */
  g_autofree char *config_origin = NULL, *weights_description = NULL;
  gboolean original = FALSE;
  if (config) {
    if (!forced_config(model, config, &config_origin, error)) return NULL;
  } else if (model->config_path) {
    if (!read_config(model->config_path, &model->config_text, error)) return NULL;
  }
  if (model->config_text &&
      !ddim_unet_config_parse(model->config_text, -1,
                              model->config_path ? model->config_path : config, &model->config,
                              error))
    return NULL;
  if (!load_weights(model, &weights_description, &original, error)) return NULL;
  if (!model->config_text) {
    if (!original) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO,
                  "%s: no config.json beside the weights file; give one with --config FILE, or "
                  "an official config name (%s)",
                  model->weights_path, ddim_ddpm_official_names());
      return NULL;
    }
    model->config_text = ddim_ddpm_original_infer_config(model->weights, &config_origin, error);
    if (!model->config_text) return NULL;
    g_autofree char *label = g_strdup_printf("%s (%s)", model->weights_path, config_origin);
    if (!ddim_unet_config_parse(model->config_text, -1, label, &model->config, error)) return NULL;
  }
  model->source =
      g_strdup_printf("%s%s%s%s", weights_description, original ? "; original DDPM layout" : "",
                      config_origin ? "; " : "", config_origin ? config_origin : "");

  gboolean ok = model->scheduler_path
                    ? ddim_noise_schedule_load(model->scheduler_path, &model->schedule, error)
                    : ddim_noise_schedule_init_default(&model->schedule, error);
  if (!ok) return NULL;
  model->net = ddim_unet_new(&model->config, model->weights, error);
  if (!model->net || !check_weights_finite(model->weights, error)) return NULL;
  model->identity = compute_identity(model->config_text, model->weights);

  DdimModelInfo *info = &model->info;
  info->sample_height = model->config.sample_height;
  info->sample_width = model->config.sample_width;
  info->in_channels = model->config.in_channels;
  info->out_channels = model->config.out_channels;
  info->size_multiple = 1 << (model->config.n_blocks - 1);
  info->parameter_count = ddim_unet_parameter_count(model->net);
  info->weight_bytes = ddim_unet_weight_bytes(model->net);
  info->weights_dtype = weights_dtype(model->weights);
  info->num_train_timesteps = model->schedule.num_train_timesteps;
  info->beta_schedule = model->schedule.beta_schedule;
  info->beta_start = model->schedule.beta_start;
  info->beta_end = model->schedule.beta_end;
  info->clip_sample = model->schedule.clip_sample;
  info->clip_sample_range = model->schedule.clip_sample_range;
  info->set_alpha_to_one = model->schedule.set_alpha_to_one;
  info->steps_offset = model->schedule.steps_offset;
  info->prediction_type = model->schedule.prediction_type;
  info->config_path = model->config_path;
  info->weights_path = model->weights_path;
  info->scheduler_path = model->scheduler_path;
  info->identity = model->identity;
  return g_steal_pointer(&model);
}

DdimModel *ddim_model_load(const char *path, GError **error) {
  return ddim_model_load_with_config(path, NULL, error);
}

const char *ddim_model_get_source(const DdimModel *model) {
  return model->source;
}

void ddim_model_free(DdimModel *model) {
  if (!model) return;
  ddim_unet_free(model->net);
  ddim_safetensors_free(model->weights);
  ddim_noise_schedule_clear(&model->schedule);
  g_free(model->config_path);
  g_free(model->weights_path);
  g_free(model->scheduler_path);
  g_free(model->identity);
  g_free(model->config_text);
  g_free(model->source);
  g_free(model);
}

const DdimModelInfo *ddim_model_get_info(const DdimModel *model) {
  return &model->info;
}

#define MAX_PIXELS ((uint64_t)1 << 26) /* per image: 8192 × 8192 */

gboolean ddim_model_check_size(DdimShape shape, GError **error) {
  if (shape.h < 1 || shape.w < 1) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT, "a %d×%d image has no pixels",
                shape.w, shape.h);
    return FALSE;
  }
  /* The message names the one limit the image exceeds, with its value: a
   * tiled run is refused by these limits on the whole image, never by its
   * tiles, and saying both would leave the user guessing. */
  if (shape.w > DDIM_MAX_SIDE || shape.h > DDIM_MAX_SIDE) {
    gboolean wide = shape.w > DDIM_MAX_SIDE;
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "a %d×%d image is too large: its %s, %d pixels, is more than the %d pixels a "
                "side allowed",
                shape.w, shape.h, wide ? "width" : "height", wide ? shape.w : shape.h,
                DDIM_MAX_SIDE);
    return FALSE;
  }
  if ((uint64_t)shape.h * (uint64_t)shape.w > MAX_PIXELS) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "a %d×%d image is too large: its %" G_GUINT64_FORMAT
                " pixels are more than the %" G_GUINT64_FORMAT " (8192×8192) allowed in all",
                shape.w, shape.h, (uint64_t)shape.h * (uint64_t)shape.w, MAX_PIXELS);
    return FALSE;
  }
  return TRUE;
}

gboolean ddim_model_check_shape(const DdimModel *model, DdimShape shape, GError **error) {
  const DdimModelInfo *info = &model->info;
  if (shape.n < 1 || shape.n > 4096) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "a batch of %d images is out of range (1 to 4096)", shape.n);
    return FALSE;
  }
  if (shape.c != info->in_channels) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "the model takes %d channels, the input has %d", info->in_channels, shape.c);
    return FALSE;
  }
  if (!ddim_model_check_size(shape, error)) return FALSE;
  if (shape.h % info->size_multiple || shape.w % info->size_multiple) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "a %d×%d image does not fit this model: width and height must be multiples of %d "
                "(native size %d×%d)",
                shape.w, shape.h, info->size_multiple, info->sample_width, info->sample_height);
    return FALSE;
  }
  return TRUE;
}

/* Within these bounds (ddim_model_check_shape's) the arena planner's size_t
 * products stay below 2^60: batch 2^12 × channels 2^13 × pixels 2^26 × a
 * few dozen planes; attention scores are pixels² ≤ 2^52 per image.  Outside
 * them a run is impossible anyway, so the need saturates. */
static gboolean shape_in_planning_bounds(DdimShape shape) {
  return shape.n >= 1 && shape.n <= 4096 && shape.h >= 1 && shape.w >= 1 &&
         shape.h <= DDIM_MAX_SIDE && shape.w <= DDIM_MAX_SIDE &&
         (uint64_t)shape.h * (uint64_t)shape.w <= MAX_PIXELS;
}

uint64_t ddim_model_memory_needed(const DdimModel *model, DdimShape shape) {
  uint64_t total;
  if (!shape_in_planning_bounds(shape) ||
      __builtin_add_overflow(model->info.weight_bytes, ddim_unet_arena_bytes(model->net, shape),
                             &total))
    return UINT64_MAX;
  return total;
}

double ddim_model_flops(const DdimModel *model, DdimShape shape) {
  return ddim_unet_flops(model->net, shape);
}

void ddim_model_set_convolutions(DdimModel *model, DdimConvolutions convolutions) {
  ddim_unet_set_convolutions(model->net, convolutions);
}

gboolean ddim_convolutions_from_name(const char *name, DdimConvolutions *convolutions) {
  static const struct {
    const char *name;
    DdimConvolutions value;
  } names[] = {{"default", DDIM_CONVOLUTIONS_DEFAULT},
               {"direct", DDIM_CONVOLUTIONS_DIRECT},
               {"fast", DDIM_CONVOLUTIONS_FAST}};
  for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
    if (g_strcmp0(name, names[i].name) == 0) {
      *convolutions = names[i].value;
      return TRUE;
    }
  return FALSE;
}

void ddim_model_set_abort(DdimModel *model, DdimAbortFunc abort, gpointer user_data) {
  ddim_unet_set_abort(model->net, abort, user_data);
}

void ddim_model_set_memory_limit(DdimModel *model, uint64_t max_bytes) {
  model->memory_limit = max_bytes;
}

/* MemAvailable from /proc/meminfo (what can be allocated without swapping),
 * else the free physical pages, or 0 when neither is known. */
static uint64_t available_memory(void) {
  g_autofree char *text = NULL;
  const char *line = NULL;
  if (g_file_get_contents("/proc/meminfo", &text, NULL, NULL) &&
      (line = strstr(text, "MemAvailable:")) != NULL)
    return g_ascii_strtoull(line + strlen("MemAvailable:"), NULL, 10) * 1024;
  long pages = sysconf(_SC_AVPHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
  return pages > 0 && page_size > 0 ? (uint64_t)pages * (uint64_t)page_size : 0;
}

/* Address space the process may still map under its RLIMIT_AS (ulimit -v):
 * the limit less VmSize from /proc/self/status; UINT64_MAX when there is no
 * limit or the size mapped is unknown. */
static uint64_t address_space_left(uint64_t *limit_bytes) {
  struct rlimit limit;
  if (getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return UINT64_MAX;
  g_autofree char *text = NULL;
  const char *line = NULL;
  if (!g_file_get_contents("/proc/self/status", &text, NULL, NULL) ||
      (line = strstr(text, "\nVmSize:")) == NULL)
    return UINT64_MAX;
  uint64_t mapped = g_ascii_strtoull(line + strlen("\nVmSize:"), NULL, 10) * 1024;
  *limit_bytes = (uint64_t)limit.rlim_cur;
  return mapped < (uint64_t)limit.rlim_cur ? (uint64_t)limit.rlim_cur - mapped : 0;
}

/* Address space a run maps besides its arena, per thread of the pool: the
 * thread's stack, glibc's malloc arena and OpenBLAS's GEMM buffer (mapped at
 * the first product).  Counted because under ulimit -v OpenBLAS does not
 * fail when that buffer cannot be mapped: it waits for one forever. */
#define THREAD_ADDRESS_SPACE ((uint64_t)128 << 20)

void ddim_model_format_sizes(uint64_t needed, uint64_t limit, char **needed_text,
                             char **limit_text) {
  static const struct {
    double bytes;
    const char *name;
  } units[] = {{1e6, "MB"}, {1e3, "kB"}};
  for (size_t i = 0; i < G_N_ELEMENTS(units); i++) {
    double a = round((double)needed / units[i].bytes), b = round((double)limit / units[i].bytes);
    if (b >= 1.0 && a > b) {
      *needed_text = g_strdup_printf("%.0f %s", a, units[i].name);
      *limit_text = g_strdup_printf("%.0f %s", b, units[i].name);
      return;
    }
  }
  *needed_text = g_strdup_printf("%" G_GUINT64_FORMAT " bytes", needed);
  *limit_text = g_strdup_printf("%" G_GUINT64_FORMAT "-byte", limit);
}

gboolean ddim_model_check_memory(const DdimModel *model, DdimShape shape, GError **error) {
  if (!ddim_model_check_shape(model, shape, error)) return FALSE;
  uint64_t needed = ddim_model_memory_needed(model, shape);
  if (model->memory_limit && needed > model->memory_limit) {
    g_autofree char *needed_text = NULL, *limit_text = NULL;
    ddim_model_format_sizes(needed, model->memory_limit, &needed_text, &limit_text);
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY,
                "a run of %d image(s) at %d×%d needs %s, more than the %s limit", shape.n, shape.w,
                shape.h, needed_text, limit_text);
    return FALSE;
  }
  uint64_t available = available_memory();
  /* Weights are already resident; only the arena is new. */
  uint64_t arena = ddim_unet_arena_bytes(model->net, shape);
  if (available && arena > available) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY,
                "a run of %d image(s) at %d×%d needs %.0f MB of activations, but only %.0f MB of "
                "memory is available",
                shape.n, shape.w, shape.h, (double)arena / 1e6, (double)available / 1e6);
    return FALSE;
  }
  uint64_t address_limit = 0;
  uint64_t left = address_space_left(&address_limit);
  uint64_t extra = (uint64_t)ddim_get_threads() * THREAD_ADDRESS_SPACE, mapping;
  if (__builtin_add_overflow(arena, extra, &mapping)) mapping = UINT64_MAX;
  if (left != UINT64_MAX && mapping > left) {
    g_autofree char *needed_text = NULL, *left_text = NULL;
    ddim_model_format_sizes(mapping, left, &needed_text, &left_text);
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY,
                "a run of %d image(s) at %d×%d needs %s of address space (activations and %d "
                "threads), more than the %s the process may still map (ulimit -v: %.0f MB)",
                shape.n, shape.w, shape.h, needed_text, ddim_get_threads(), left_text,
                (double)address_limit / 1e6);
    return FALSE;
  }
  return TRUE;
}

gboolean ddim_model_eps(DdimModel *model, const float *x, DdimShape shape, const float *timesteps,
                        float *eps, GError **error) {
  if (!ddim_model_check_shape(model, shape, error)) return FALSE;
  /* The memory check runs when a new shape is planned, not at every step. */
  if (!ddim_unet_has_plan(model->net, shape) && !ddim_model_check_memory(model, shape, error))
    return FALSE;
  if (!ddim_unet_forward(model->net, x, shape, timesteps, eps, error)) return FALSE;
  /* Weights or inputs that overflow float32 end in NaN or infinity; a run
   * must fail saying so rather than return images of NaN. */
  const size_t count = ddim_shape_elements(shape), per_image = count / (size_t)shape.n;
  for (size_t i = 0; i < count; i++)
    if (!isfinite(eps[i])) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                  "%s: the network's output for image %zu at timestep %g is not finite (%g at "
                  "value %zu): the weights or the config make it overflow",
                  model->weights_path ? model->weights_path : "the model", i / per_image + 1,
                  (double)timesteps[i / per_image], eps[i], i % per_image);
      return FALSE;
    }
  return TRUE;
}
