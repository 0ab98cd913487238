/* convert.c — how a loaded model is written as a diffusers safetensors
 * folder.
 *
 * The tensors are those the network was bound from (already renamed to
 * diffusers keys for original checkpoints), sorted by name, in one
 * safetensors file whose header is padded with spaces to a multiple of 8
 * bytes so the data starts aligned (as the safetensors writer does).  The
 * config and scheduler texts are the ones the model was loaded with, so the
 * folder loads to the same network and schedule.
 *
 * The three files go through the temporary-file registry of core/io
 * (temp-output.h), as the command's other outputs do: its signal handlers
 * remove them, and the folder when this conversion made it, so a convert
 * that is interrupted or fails leaves no partial file. */
#include "ddim-convert.h"
#include "model.h"
#include "temp-output.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define WEIGHTS_NAME "diffusion_pytorch_model.safetensors"

static int compare_names(const void *a, const void *b) {
  const DdimStTensor *x = *(const DdimStTensor *const *)a, *y = *(const DdimStTensor *const *)b;
  return strcmp(x->name, y->name);
}

static gboolean converts(const DdimStTensor *tensor, DdimConvertDtype dtype) {
  return dtype == DDIM_CONVERT_F32 && tensor->dtype != DDIM_DTYPE_F32;
}

static uint64_t output_bytes(const DdimStTensor *tensor, DdimConvertDtype dtype) {
  return converts(tensor, dtype) ? tensor->elements * 4 : tensor->nbytes;
}

static char *safetensors_header(DdimStTensor **tensors, int count, DdimConvertDtype dtype) {
  g_autoptr(JsonBuilder) builder = json_builder_new();
  json_builder_begin_object(builder);
  json_builder_set_member_name(builder, "__metadata__");
  json_builder_begin_object(builder);
  json_builder_set_member_name(builder, "format");
  json_builder_add_string_value(builder, "pt");
  json_builder_end_object(builder);
  uint64_t offset = 0;
  for (int i = 0; i < count; i++) {
    const DdimStTensor *tensor = tensors[i];
    uint64_t bytes = output_bytes(tensor, dtype);
    json_builder_set_member_name(builder, tensor->name);
    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "dtype");
    json_builder_add_string_value(builder, converts(tensor, dtype) ? "F32" : tensor->dtype_name);
    json_builder_set_member_name(builder, "shape");
    json_builder_begin_array(builder);
    for (int d = 0; d < tensor->rank; d++) json_builder_add_int_value(builder, tensor->shape[d]);
    json_builder_end_array(builder);
    json_builder_set_member_name(builder, "data_offsets");
    json_builder_begin_array(builder);
    json_builder_add_int_value(builder, (gint64)offset);
    json_builder_add_int_value(builder, (gint64)(offset + bytes));
    json_builder_end_array(builder);
    json_builder_end_object(builder);
    offset += bytes;
  }
  json_builder_end_object(builder);
  g_autoptr(JsonGenerator) generator = json_generator_new();
  g_autoptr(JsonNode) root = json_builder_get_root(builder);
  json_generator_set_root(generator, root);
  g_autofree char *text = json_generator_to_data(generator, NULL);
  GString *padded = g_string_new(text);
  while (padded->len % 8) g_string_append_c(padded, ' ');
  return g_string_free(padded, FALSE);
}

static gboolean write_bytes(FILE *file, const void *data, size_t size, const char *path,
                            GError **error) {
  if (size && fwrite(data, 1, size, file) != size) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO, "%s: cannot write: %s", path, g_strerror(errno));
    return FALSE;
  }
  return TRUE;
}

static gboolean write_tensor(FILE *file, const DdimStTensor *tensor, DdimConvertDtype dtype,
                             const char *path, GError **error) {
  if (!converts(tensor, dtype)) return write_bytes(file, tensor->data, tensor->nbytes, path, error);
  g_autofree float *values = g_try_new(float, tensor->elements ? tensor->elements : 1);
  g_autofree guint8 *bytes = g_try_malloc(tensor->elements * 4 + 1);
  if (!values || !bytes || !ddim_st_tensor_to_f32(tensor, values)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY, "%s: cannot convert tensor \"%s\"", path,
                tensor->name);
    return FALSE;
  }
  for (uint64_t i = 0; i < tensor->elements; i++) {
    uint32_t bits;
    memcpy(&bits, &values[i], sizeof bits);
    for (int b = 0; b < 4; b++) bytes[4 * i + (uint64_t)b] = (guint8)(bits >> (8 * b));
  }
  return write_bytes(file, bytes, tensor->elements * 4, path, error);
}

/* Opens a new temporary file for `path` (its name in *temp_path, owned by
 * the registry: committed or discarded by ddim_model_convert). */
static FILE *open_output(const char *path, char **temp_path, GError **error) {
  FILE *file = ddim_temp_output_create(path, temp_path);
  if (!file)
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO, "%s: cannot write: %s", path, g_strerror(errno));
  return file;
}

/* Flushes, syncs (a file renamed into place must be on disk first) and
 * closes; `ok` says whether the writes so far succeeded. */
static gboolean close_output(FILE *file, gboolean ok, const char *path, GError **error) {
  if (ok && (fflush(file) != 0 || fsync(fileno(file)) != 0)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO, "%s: cannot write: %s", path, g_strerror(errno));
    ok = FALSE;
  }
  if (fclose(file) != 0 && ok) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO, "%s: cannot write: %s", path, g_strerror(errno));
    ok = FALSE;
  }
  return ok;
}

static gboolean write_safetensors(const DdimSafetensors *table, const char *path, char **temp_path,
                                  DdimConvertDtype dtype, GError **error) {
  g_autofree DdimStTensor **sorted = g_new(DdimStTensor *, table->n_tensors + 1);
  for (int i = 0; i < table->n_tensors; i++) sorted[i] = &table->tensors[i];
  qsort(sorted, (size_t)table->n_tensors, sizeof *sorted, compare_names);
  g_autofree char *header = safetensors_header(sorted, table->n_tensors, dtype);
  uint64_t header_length = strlen(header);
  guint8 length_field[8];
  for (int i = 0; i < 8; i++) length_field[i] = (guint8)(header_length >> (8 * i));

  FILE *file = open_output(path, temp_path, error);
  if (!file) return FALSE;
  gboolean ok = write_bytes(file, length_field, 8, path, error) &&
                write_bytes(file, header, header_length, path, error);
  for (int i = 0; ok && i < table->n_tensors; i++)
    ok = write_tensor(file, sorted[i], dtype, path, error);
  return close_output(file, ok, path, error);
}

static const char *prediction_name(DdimPrediction prediction) {
  switch (prediction) {
  case DDIM_PREDICTION_SAMPLE:
    return "sample";
  case DDIM_PREDICTION_V:
    return "v_prediction";
  case DDIM_PREDICTION_EPSILON:
  default:
    return "epsilon";
  }
}

/* The schedule of a model loaded without scheduler_config.json, written so
 * that loading it gives the same schedule (clip_sample explicit, since a
 * scheduler file that omits it would clip). */
static char *default_scheduler_json(const DdimNoiseSchedule *schedule) {
  g_autoptr(JsonBuilder) builder = json_builder_new();
  json_builder_begin_object(builder);
#define MEMBER(name, call)                                                                         \
  do {                                                                                             \
    json_builder_set_member_name(builder, name);                                                   \
    call;                                                                                          \
  } while (0)
  MEMBER("_class_name", json_builder_add_string_value(builder, "DDIMScheduler"));
  MEMBER("beta_end", json_builder_add_double_value(builder, schedule->beta_end));
  MEMBER("beta_schedule", json_builder_add_string_value(builder, schedule->beta_schedule));
  MEMBER("beta_start", json_builder_add_double_value(builder, schedule->beta_start));
  MEMBER("clip_sample", json_builder_add_boolean_value(builder, schedule->clip_sample));
  MEMBER("clip_sample_range", json_builder_add_double_value(builder, schedule->clip_sample_range));
  MEMBER("num_train_timesteps", json_builder_add_int_value(builder, schedule->num_train_timesteps));
  MEMBER("prediction_type",
         json_builder_add_string_value(builder, prediction_name(schedule->prediction_type)));
  MEMBER("set_alpha_to_one", json_builder_add_boolean_value(builder, schedule->set_alpha_to_one));
  MEMBER("steps_offset", json_builder_add_int_value(builder, schedule->steps_offset));
#undef MEMBER
  json_builder_end_object(builder);
  g_autoptr(JsonGenerator) generator = json_generator_new();
  g_autoptr(JsonNode) root = json_builder_get_root(builder);
  json_generator_set_root(generator, root);
  json_generator_set_pretty(generator, TRUE);
  json_generator_set_indent(generator, 2);
  g_autofree char *text = json_generator_to_data(generator, NULL);
  return g_strconcat(text, "\n", NULL);
}

static gboolean write_text(const char *path, char **temp_path, const char *text, size_t length,
                           GError **error) {
  FILE *file = open_output(path, temp_path, error);
  if (!file) return FALSE;
  return close_output(file, write_bytes(file, text, length, path, error), path, error);
}

gboolean ddim_model_convert(const DdimModel *model, const char *out_dir, DdimConvertDtype dtype,
                            GError **error) {
  g_return_val_if_fail(model != NULL && out_dir != NULL, FALSE);
  g_autofree char *config_path = g_build_filename(out_dir, "config.json", NULL);
  g_autofree char *weights_path = g_build_filename(out_dir, WEIGHTS_NAME, NULL);
  g_autofree char *scheduler_path = g_build_filename(out_dir, "scheduler_config.json", NULL);
  if (g_file_test(config_path, G_FILE_TEST_EXISTS) ||
      g_file_test(weights_path, G_FILE_TEST_EXISTS)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "%s: already holds a model (config.json or %s); choose another folder", out_dir,
                WEIGHTS_NAME);
    return FALSE;
  }
  /* Read before anything is created: a failure here leaves nothing. */
  g_autofree char *scheduler_text = NULL;
  gsize scheduler_length = 0;
  if (model->scheduler_path) {
    g_autoptr(GError) read_error = NULL;
    if (!g_file_get_contents(model->scheduler_path, &scheduler_text, &scheduler_length,
                             &read_error)) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO, "%s: cannot read: %s", model->scheduler_path,
                  read_error->message);
      return FALSE;
    }
  } else {
    scheduler_text = default_scheduler_json(&model->schedule);
    scheduler_length = strlen(scheduler_text);
  }
  char **created_folders = NULL;
  if (!ddim_temp_output_create_folder(out_dir, &created_folders)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO, "%s: cannot create the folder: %s", out_dir,
                g_strerror(errno));
    return FALSE;
  }
  /* Renamed in this order, config.json last, so that a folder without it is
   * not mistaken for a model. */
  const char *paths[3] = {weights_path, scheduler_path, config_path};
  char *temp_paths[3] = {NULL, NULL, NULL};
  gboolean ok =
      write_safetensors(model->weights, weights_path, &temp_paths[0], dtype, error) &&
      write_text(scheduler_path, &temp_paths[1], scheduler_text, scheduler_length, error) &&
      write_text(config_path, &temp_paths[2], model->config_text, strlen(model->config_text),
                 error);
  /* Nothing is renamed before all three are complete: a failure or a signal
   * until then leaves no file (a signal between the renames, microseconds,
   * leaves complete files without config.json). */
  int committed = 0;
  for (; ok && committed < 3; committed++) {
    if (!ddim_temp_output_commit(temp_paths[committed], paths[committed])) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO, "%s: cannot write: %s", paths[committed],
                  g_strerror(errno));
      ok = FALSE;
      break;
    }
    temp_paths[committed] = NULL;
  }
  if (ok) {
    ddim_temp_output_keep_folders(created_folders);
    return TRUE;
  }
  for (int i = 0; i < 3; i++) ddim_temp_output_discard(temp_paths[i]);
  for (int i = 0; i < committed; i++) g_unlink(paths[i]);
  ddim_temp_output_remove_folders(created_folders);
  return FALSE;
}
