/* test-latent.c — the latent byte format: round trip, and every malformed
 * variant refused (it is read back from XCF files, so it is untrusted). */
#include "ddim-latent.h"
#include "model.h"

#include <math.h>
#include <string.h>

static DdimLatent *make_latent(void) {
  DdimParams params;
  ddim_params_init(&params);
  params.steps = 20;
  params.schedule = DDIM_SCHEDULE_QUADRATIC;
  params.strength = 0.75;
  DdimShape shape = {1, 3, 4, 6};
  float values[72];
  for (int i = 0; i < 72; i++) values[i] = (float)i * 0.25f - 3.0f;
  return ddim_latent_new("0123456789abcdef0123456789abcdef", &params, shape, values);
}

static void test_round_trip(void) {
  g_autoptr(DdimLatent) latent = make_latent();
  g_autoptr(GBytes) bytes = ddim_latent_serialize(latent);
  gsize size = 0;
  const guint8 *data = g_bytes_get_data(bytes, &size);
  g_assert_cmpuint(size, ==, 8 + 4 + 32 + 4 + 4 + 8 + 16 + 72 * 4);
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimLatent) back = ddim_latent_parse(data, size, "test", &error);
  g_assert_no_error(error);
  g_assert_cmpstr(back->model_identity, ==, latent->model_identity);
  g_assert_cmpint(back->steps, ==, 20);
  g_assert_cmpint(back->schedule, ==, DDIM_SCHEDULE_QUADRATIC);
  g_assert_cmpfloat(back->strength, ==, 0.75);
  g_assert_cmpmem(&back->shape, sizeof back->shape, &latent->shape, sizeof latent->shape);
  g_assert_cmpmem(back->data, 72 * sizeof(float), latent->data, 72 * sizeof(float));
}

/* Corrupt one field at a time; each must be refused with a message. */
static void expect_refused(const guint8 *data, size_t size, const char *what) {
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimLatent) latent = ddim_latent_parse(data, size, "layer parasite", &error);
  if (latent) g_error("%s: accepted", what);
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT);
  g_assert_nonnull(strstr(error->message, "layer parasite"));
}

static void test_malformed(void) {
  g_autoptr(DdimLatent) latent = make_latent();
  g_autoptr(GBytes) bytes = ddim_latent_serialize(latent);
  gsize size = 0;
  const guint8 *good = g_bytes_get_data(bytes, &size);
  g_autofree guint8 *bad = g_memdup2(good, size);
  expect_refused(good, 0, "empty");
  expect_refused(good, 20, "truncated header");
  expect_refused(good, size - 1, "truncated data");
  g_autofree guint8 *longer = g_malloc0(size + 4);
  memcpy(longer, good, size);
  expect_refused(longer, size + 4, "extra data");
  struct {
    size_t offset;
    guint8 value;
    const char *what;
  } corruptions[] = {
      {0, 'X', "magic"},         {8, 2, "version"},
      {12, '!', "identity"},     {44, 0, "steps 0"},
      {48, 9, "schedule"},       {59, 0x7f, "strength"},
      {60, 0, "batch 0"},        {64, 200, "channels 200"},
      {71, 0x7f, "height huge"}, {75, 0x80, "width negative"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(corruptions); i++) {
    memcpy(bad, good, size);
    bad[corruptions[i].offset] = corruptions[i].value;
    if (corruptions[i].offset == 44) memset(bad + 44, 0, 4);
    expect_refused(bad, size, corruptions[i].what);
  }
  /* A NaN value. */
  memcpy(bad, good, size);
  const uint32_t nan_bits = 0x7fc00000u;
  memcpy(bad + size - 4, &nan_bits, 4);
  expect_refused(bad, size, "NaN value");
}

static void test_other_model_refused(void) {
  g_autofree char *path = g_build_filename(DDIM_FIXTURES_DIR, "google_f32", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimModel) model = ddim_model_load(path, &error);
  g_assert_no_error(error);
  g_autoptr(DdimLatent) foreign = make_latent();
  g_assert_false(ddim_latent_check_model(foreign, model, "layer \"x\"", &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull(strstr(error->message, "another model"));
  g_clear_error(&error);

  DdimParams params;
  ddim_params_init(&params);
  DdimShape shape = {1, 3, 16, 16};
  g_autofree float *zeros = g_new0(float, 3 * 16 * 16);
  g_autoptr(DdimLatent) own =
      ddim_latent_new(ddim_model_get_info(model)->identity, &params, shape, zeros);
  g_assert_true(ddim_latent_check_model(own, model, "layer", &error));
  g_assert_no_error(error);
  own->shape.h = 10; /* not a multiple of 4 */
  g_assert_false(ddim_latent_check_model(own, model, "layer", &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/latent/round-trip", test_round_trip);
  g_test_add_func("/latent/malformed", test_malformed);
  g_test_add_func("/latent/other-model", test_other_model_refused);
  return g_test_run();
}
