/* test-reference.c — the whole network and sampler against PyTorch.
 *
 * tests/fixtures/manifest.json (written by tools/make_fixtures.py from our
 * PyTorch reference of diffusers' UNet2DModel and DDIM schedulers) lists, per
 * model, inputs and expected outputs: ε at given timesteps, DDIM samples for
 * each schedule, η > 0 samples with our noise, inversion and reconstruction.
 * Every case is run here and compared. */
#include "ddim.h"
#include "model.h"
#include "ddim-io.h"
#include "rng.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

static const char *fixtures_dir;
static JsonObject *manifest;

static char *fixture_path(const char *relative) {
  return g_build_filename(fixtures_dir, relative, NULL);
}

static float *load_npy(const char *relative, DdimShape *shape) {
  g_autofree char *path = fixture_path(relative);
  g_autoptr(GError) error = NULL;
  float *data = NULL;
  if (!ddim_npy_read(path, &data, shape, &error)) g_error("%s", error->message);
  return data;
}

/* max |a − b| / max |b|: relative to the output's scale, so near-zero
 * elements do not dominate. */
static double relative_error(const float *a, const float *b, size_t n) {
  double max_diff = 0.0, max_ref = 0.0;
  for (size_t i = 0; i < n; i++) {
    max_diff = fmax(max_diff, fabs((double)a[i] - b[i]));
    max_ref = fmax(max_ref, fabs((double)b[i]));
  }
  return max_ref > 0.0 ? max_diff / max_ref : max_diff;
}

static double absolute_error(const float *a, const float *b, size_t n) {
  double max_diff = 0.0;
  for (size_t i = 0; i < n; i++) max_diff = fmax(max_diff, fabs((double)a[i] - b[i]));
  return max_diff;
}

static const char *get_string(JsonObject *object, const char *key) {
  return json_object_has_member(object, key) ? json_object_get_string_member(object, key) : NULL;
}

static void run_case(DdimModel *model, const char *model_name, JsonObject *test_case) {
  const char *kind = get_string(test_case, "kind");
  if (strcmp(kind, "input") == 0 || strcmp(kind, "noise") == 0) {
    if (strcmp(kind, "noise") == 0) {
      /* x_T made by our noise source must match the reference's Philox. */
      DdimShape shape;
      g_autofree float *expected = load_npy(get_string(test_case, "file"), &shape);
      g_autofree float *noise = g_new(float, ddim_shape_elements(shape));
      ddim_noise((uint64_t)json_object_get_int_member(test_case, "seed"),
                 (uint64_t)json_object_get_int_member(test_case, "stream"), shape, noise);
      g_assert_cmpfloat(absolute_error(noise, expected, ddim_shape_elements(shape)), <=, 1e-6);
    }
    return;
  }
  DdimShape shape, expected_shape;
  g_autofree float *x = load_npy(get_string(test_case, "input"), &shape);
  g_autofree float *expected = load_npy(get_string(test_case, "output"), &expected_shape);
  const size_t count = ddim_shape_elements(expected_shape);
  g_autofree float *out = g_new0(float, count);
  g_autoptr(GError) error = NULL;

  if (strcmp(kind, "eps") == 0) {
    JsonArray *timesteps = json_object_get_array_member(test_case, "timesteps");
    g_autofree float *t = g_new(float, shape.n);
    for (int b = 0; b < shape.n; b++)
      t[b] = (float)json_array_get_double_element(timesteps, (guint)b);
    g_assert_true(ddim_model_eps(model, x, shape, t, out, &error));
    double err = relative_error(out, expected, count);
    g_test_message("%s %s: eps relative error %.2e", model_name, get_string(test_case, "output"),
                   err);
    g_assert_cmpfloat(err, <=, 1e-5);
    return;
  }

  DdimParams params;
  ddim_params_init(&params);
  params.steps = (int)json_object_get_int_member(test_case, "steps");
  params.eta = json_object_get_double_member(test_case, "eta");
  g_assert_true(ddim_schedule_from_name(get_string(test_case, "schedule"), &params.schedule));
  params.clip = (int)json_object_get_int_member(test_case, "clip_param");
  if (!json_object_get_null_member(test_case, "seed"))
    params.seed = (uint64_t)json_object_get_int_member(test_case, "seed");

  if (json_object_has_member(test_case, "strength"))
    params.strength = json_object_get_double_member(test_case, "strength");

  /* The timesteps the run visits must be the reference's (the lowest ones
   * of the schedule for a partial strength). */
  JsonArray *expected_ts = json_object_get_array_member(test_case, "timesteps");
  g_autofree int *timesteps = NULL;
  int n = ddim_model_timesteps(model, params.schedule, params.steps, &timesteps, &error);
  g_assert_no_error(error);
  int used = ddim_params_step_count(model, &params, &error);
  g_assert_no_error(error);
  g_assert_cmpint(used, ==, (int)json_array_get_length(expected_ts));
  g_assert_cmpint(used, <=, n);
  for (int i = 0; i < used; i++)
    g_assert_cmpint(timesteps[i], ==, (int)json_array_get_int_element(expected_ts, (guint)i));
  if (json_object_has_member(test_case, "start_timestep"))
    g_assert_cmpint(ddim_params_start_timestep(model, &params, &error), ==,
                    (int)json_object_get_int_member(test_case, "start_timestep"));

  memcpy(out, x, sizeof(float) * count);
  double tolerance;
  if (strcmp(kind, "sample") == 0) {
    g_assert_true(ddim_sample(model, &params, out, shape, &error));
    tolerance = 2e-4; /* absolute, images in about [-1, 1] */
  } else if (strcmp(kind, "vary") == 0) {
    g_assert_true(ddim_vary(model, &params, out, shape, &error));
    tolerance = 2e-4;
  } else if (strcmp(kind, "encode") == 0) {
    g_assert_true(ddim_invert(model, &params, out, shape, &error));
    tolerance = 2e-4;
  } else if (strcmp(kind, "reconstruct") == 0) {
    g_assert_true(ddim_invert(model, &params, out, shape, &error));
    g_assert_true(ddim_sample(model, &params, out, shape, &error));
    tolerance = 2e-4;
  } else {
    g_error("unknown case kind %s", kind);
  }
  g_assert_no_error(error);
  /* Absolute error, scaled when the reference's values are large (an
   * untrained model's inversion can leave [-1, 1] far behind). */
  double scale = 0.0;
  for (size_t i = 0; i < count; i++) scale = fmax(scale, fabs((double)expected[i]));
  double err = absolute_error(out, expected, count) / fmax(1.0, scale);
  /* Where the reference itself moves by more between float32 and float64
   * (clipping makes some untrained-model trajectories ill-conditioned), the
   * bound is a few times that noise floor. */
  if (json_object_has_member(test_case, "f32_vs_f64_max_rel"))
    tolerance =
        fmax(tolerance, 4.0 * json_object_get_double_member(test_case, "f32_vs_f64_max_rel"));
  g_test_message("%s %s: max error %.2e (scale %.2f)", model_name, get_string(test_case, "output"),
                 err, scale);
  if (!g_getenv("DDIM_TEST_REPORT_ONLY")) g_assert_cmpfloat(err, <=, tolerance);
}

static void test_model(gconstpointer data) {
  const char *model_name = data;
  JsonObject *entry =
      json_object_get_object_member(json_object_get_object_member(manifest, "models"), model_name);
  g_autofree char *path = fixture_path(get_string(entry, "path"));
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimModel) model = ddim_model_load(path, &error);
  g_assert_no_error(error);
  const DdimModelInfo *info = ddim_model_get_info(model);
  g_assert_cmpuint(info->parameter_count, ==,
                   (guint64)json_object_get_int_member(entry, "parameter_count"));
  g_assert_cmpint(info->size_multiple, ==, (int)json_object_get_int_member(entry, "size_multiple"));
  g_assert_cmpstr(info->weights_dtype, ==, get_string(entry, "weights_dtype"));

  /* ᾱ probes (torch float32 linspace + double-accumulated cumprod). */
  JsonObject *probe = json_object_get_object_member(entry, "alphas_cumprod_probe");
  g_autoptr(GList) keys = json_object_get_members(probe);
  for (GList *it = keys; it; it = it->next) {
    int t = atoi(it->data);
    double expected = json_object_get_double_member(probe, it->data);
    g_assert_cmpfloat(fabs(model->schedule.alphas_cumprod[t] - expected), <=,
                      2e-6 * expected + 1e-12);
  }

  JsonArray *cases = json_object_get_array_member(entry, "cases");
  for (guint i = 0; i < json_array_get_length(cases); i++)
    run_case(model, model_name, json_array_get_object_element(cases, i));
  if (json_object_has_member(entry, "vary_cases")) {
    JsonArray *vary = json_object_get_array_member(entry, "vary_cases");
    for (guint i = 0; i < json_array_get_length(vary); i++)
      run_case(model, model_name, json_array_get_object_element(vary, i));
  }
}

static void test_philox_known_answers(void) {
  JsonArray *vectors = json_object_get_array_member(manifest, "philox_raw");
  g_assert_cmpuint(json_array_get_length(vectors), >=, 3);
  for (guint i = 0; i < json_array_get_length(vectors); i++) {
    JsonObject *v = json_array_get_object_element(vectors, i);
    JsonArray *c = json_object_get_array_member(v, "counter"),
              *k = json_object_get_array_member(v, "key"),
              *o = json_object_get_array_member(v, "output");
    uint32_t counter[4], key[2], out[4];
    for (guint j = 0; j < 4; j++)
      counter[j] = (uint32_t)strtoul(json_array_get_string_element(c, j), NULL, 16);
    for (guint j = 0; j < 2; j++)
      key[j] = (uint32_t)strtoul(json_array_get_string_element(k, j), NULL, 16);
    ddim_philox4x32_10(counter, key, out);
    for (guint j = 0; j < 4; j++)
      g_assert_cmphex(out[j], ==, (uint32_t)strtoul(json_array_get_string_element(o, j), NULL, 16));
  }
  /* Random123's published vector, independent of the fixture generator. */
  uint32_t zero_counter[4] = {0}, zero_key[2] = {0}, out[4];
  ddim_philox4x32_10(zero_counter, zero_key, out);
  g_assert_cmphex(out[0], ==, 0x6627e8d5);
  g_assert_cmphex(out[3], ==, 0x9b00dbd8);
}

static void test_philox_normals(void) {
  JsonArray *files = json_object_get_array_member(manifest, "philox");
  for (guint i = 0; i < json_array_get_length(files); i++) {
    JsonObject *v = json_array_get_object_element(files, i);
    DdimShape shape;
    g_autofree float *expected = load_npy(get_string(v, "file"), &shape);
    size_t count = ddim_shape_elements(shape);
    g_autofree float *got = g_new(float, count);
    ddim_noise((uint64_t)json_object_get_int_member(v, "seed"),
               (uint64_t)json_object_get_int_member(v, "stream"), shape, got);
    g_assert_cmpfloat(absolute_error(got, expected, count), <=, 1e-6);
  }
}

static void test_slerp_reference(void) {
  JsonArray *cases = json_object_get_array_member(manifest, "slerp");
  for (guint i = 0; i < json_array_get_length(cases); i++) {
    JsonObject *v = json_array_get_object_element(cases, i);
    DdimShape shape;
    g_autofree float *z0 = load_npy(get_string(v, "z0"), &shape);
    g_autofree float *z1 = load_npy(get_string(v, "z1"), &shape);
    g_autofree float *expected = load_npy(get_string(v, "output"), &shape);
    size_t count = ddim_shape_elements(shape);
    g_autofree float *got = g_new(float, count);
    ddim_slerp(z0, z1, count, json_object_get_double_member(v, "alpha"), got);
    g_assert_cmpfloat(absolute_error(got, expected, count), <=, 1e-5);
  }
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  fixtures_dir = g_getenv("DDIM_FIXTURES");
  if (!fixtures_dir) fixtures_dir = DDIM_FIXTURES_DIR;
  g_autofree char *manifest_path = g_build_filename(fixtures_dir, "manifest.json", NULL);
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) error = NULL;
  if (!json_parser_load_from_file(parser, manifest_path, &error)) g_error("%s", error->message);
  manifest = json_node_get_object(json_parser_get_root(parser));
  ddim_set_threads(0);

  g_test_add_func("/philox/known-answers", test_philox_known_answers);
  g_test_add_func("/philox/normals", test_philox_normals);
  g_test_add_func("/slerp/reference", test_slerp_reference);
  g_autoptr(GList) models =
      json_object_get_members(json_object_get_object_member(manifest, "models"));
  for (GList *it = models; it; it = it->next) {
    g_autofree char *name = g_strdup_printf("/reference/%s", (const char *)it->data);
    g_test_add_data_func(name, it->data, test_model);
  }
  return g_test_run();
}
