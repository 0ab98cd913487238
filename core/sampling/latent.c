/* latent.c — how a latent is stored as bytes.
 *
 * Layout (little-endian): "DDIMLAT\0" magic, u32 version (1), 32-byte model
 * identity (hex), u32 steps, u32 schedule, f64 strength, u32 n, c, h, w, then
 * n·c·h·w float32 values.  Sizes are checked before any value is read. */
#include "ddim-latent.h"

#include <math.h>
#include <string.h>

#define LATENT_MAGIC "DDIMLAT"
#define LATENT_VERSION 1u
#define HEADER_BYTES (8 + 4 + DDIM_LATENT_IDENTITY_LENGTH + 4 + 4 + 8 + 4 * 4)
#define MAX_SIDE 16384

DdimLatent *ddim_latent_new(const char *model_identity, const DdimParams *params, DdimShape shape,
                            const float *data) {
  DdimLatent *latent = g_new0(DdimLatent, 1);
  g_strlcpy(latent->model_identity, model_identity ? model_identity : "",
            sizeof latent->model_identity);
  latent->steps = params->steps;
  latent->schedule = params->schedule;
  latent->strength = params->strength;
  latent->shape = shape;
  size_t count = ddim_shape_elements(shape);
  latent->data = g_new(float, count ? count : 1);
  if (data && count) memcpy(latent->data, data, sizeof(float) * count);
  return latent;
}

void ddim_latent_free(DdimLatent *latent) {
  if (!latent) return;
  g_free(latent->data);
  g_free(latent);
}

static void put_u32(GByteArray *out, uint32_t value) {
  guint8 bytes[4] = {(guint8)value, (guint8)(value >> 8), (guint8)(value >> 16),
                     (guint8)(value >> 24)};
  g_byte_array_append(out, bytes, 4);
}

static uint32_t get_u32(const guint8 *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

GBytes *ddim_latent_serialize(const DdimLatent *latent) {
  size_t count = ddim_shape_elements(latent->shape);
  GByteArray *out = g_byte_array_sized_new((guint)(HEADER_BYTES + 4 * count));
  g_byte_array_append(out, (const guint8 *)LATENT_MAGIC "", 8);
  put_u32(out, LATENT_VERSION);
  guint8 identity[DDIM_LATENT_IDENTITY_LENGTH] = {0};
  memcpy(identity, latent->model_identity,
         strnlen(latent->model_identity, DDIM_LATENT_IDENTITY_LENGTH));
  g_byte_array_append(out, identity, sizeof identity);
  put_u32(out, (uint32_t)latent->steps);
  put_u32(out, (uint32_t)latent->schedule);
  uint64_t strength_bits;
  memcpy(&strength_bits, &latent->strength, sizeof strength_bits);
  put_u32(out, (uint32_t)strength_bits);
  put_u32(out, (uint32_t)(strength_bits >> 32));
  put_u32(out, (uint32_t)latent->shape.n);
  put_u32(out, (uint32_t)latent->shape.c);
  put_u32(out, (uint32_t)latent->shape.h);
  put_u32(out, (uint32_t)latent->shape.w);
  for (size_t i = 0; i < count; i++) {
    uint32_t bits;
    memcpy(&bits, &latent->data[i], sizeof bits);
    put_u32(out, bits);
  }
  return g_byte_array_free_to_bytes(out);
}

static DdimLatent *invalid(GError **error, const char *source, const char *what) {
  g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: not a valid DDIM latent: %s", source,
              what);
  return NULL;
}

DdimLatent *ddim_latent_parse(const guint8 *bytes, size_t size, const char *source,
                              GError **error) {
  if (size < HEADER_BYTES) return invalid(error, source, "too short");
  if (memcmp(bytes, LATENT_MAGIC, 8) != 0) return invalid(error, source, "wrong magic");
  const guint8 *p = bytes + 8;
  if (get_u32(p) != LATENT_VERSION) return invalid(error, source, "unknown version");
  p += 4;
  char identity[DDIM_LATENT_IDENTITY_LENGTH + 1] = {0};
  memcpy(identity, p, DDIM_LATENT_IDENTITY_LENGTH);
  /* Hex digits, NUL-padded: nothing may hide after the first NUL. */
  size_t identity_length = strnlen(identity, DDIM_LATENT_IDENTITY_LENGTH);
  for (size_t i = 0; i < DDIM_LATENT_IDENTITY_LENGTH; i++)
    if (i < identity_length ? !g_ascii_isxdigit(identity[i]) : p[i] != 0)
      return invalid(error, source, "bad model identity");
  p += DDIM_LATENT_IDENTITY_LENGTH;
  uint32_t steps = get_u32(p), schedule = get_u32(p + 4);
  uint64_t strength_bits = (uint64_t)get_u32(p + 8) | (uint64_t)get_u32(p + 12) << 32;
  double strength;
  memcpy(&strength, &strength_bits, sizeof strength);
  p += 16;
  uint32_t dims[4];
  for (int i = 0; i < 4; i++) dims[i] = get_u32(p + 4 * i);
  if (steps < 1 || steps > 100000) return invalid(error, source, "steps out of range");
  if (schedule > DDIM_SCHEDULE_LINSPACE) return invalid(error, source, "unknown schedule");
  if (!(strength > 0.0 && strength <= 1.0)) return invalid(error, source, "strength out of range");
  if (dims[0] < 1 || dims[0] > 4096 || dims[1] < 1 || dims[1] > 64 || dims[2] < 1 ||
      dims[2] > MAX_SIDE || dims[3] < 1 || dims[3] > MAX_SIDE)
    return invalid(error, source, "shape out of range");
  DdimShape shape = {(int)dims[0], (int)dims[1], (int)dims[2], (int)dims[3]};
  size_t count = ddim_shape_elements(shape);
  if (count == 0 || count > (SIZE_MAX - HEADER_BYTES) / 4 || size != HEADER_BYTES + 4 * count)
    return invalid(error, source, "the data size does not match the shape");
  DdimParams params;
  ddim_params_init(&params);
  params.steps = (int)steps;
  params.schedule = (DdimSchedule)schedule;
  params.strength = strength;
  DdimLatent *latent = ddim_latent_new(identity, &params, shape, NULL);
  const guint8 *data = bytes + HEADER_BYTES;
  for (size_t i = 0; i < count; i++) {
    uint32_t bits = get_u32(data + 4 * i);
    memcpy(&latent->data[i], &bits, sizeof bits);
    if (!isfinite(latent->data[i])) {
      ddim_latent_free(latent);
      return invalid(error, source, "it holds a value that is not finite");
    }
  }
  return latent;
}

gboolean ddim_latent_check_model(const DdimLatent *latent, const DdimModel *model,
                                 const char *source, GError **error) {
  const DdimModelInfo *info = ddim_model_get_info(model);
  if (strcmp(latent->model_identity, info->identity) != 0) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "%s: this latent was made with another model (%s), not %s (%s)", source,
                latent->model_identity, info->config_path, info->identity);
    return FALSE;
  }
  g_autoptr(GError) shape_error = NULL;
  if (!ddim_model_check_shape(model, latent->shape, &shape_error)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT, "%s: %s", source,
                shape_error->message);
    return FALSE;
  }
  return TRUE;
}
