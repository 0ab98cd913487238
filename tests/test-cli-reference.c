/* test-cli-reference.c — the `ddim` command against the PyTorch reference,
 * the way an outside checker would use it: `ddim eps MODEL X.npy --timestep T
 * -o EPS.npy` and `ddim generate MODEL --xt XT.npy --eta 0 --steps S -o OUT.npy`
 * for every fixture model, compared with the manifest's expected outputs. */
#include "ddim.h"
#include "ddim-io.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

static const char *fixtures_dir, *ddim_binary;
static JsonObject *manifest;
static char *scratch_dir;

static float *load(const char *path, DdimShape *shape) {
  g_autoptr(GError) error = NULL;
  float *data = NULL;
  if (!ddim_npy_read(path, &data, shape, &error)) g_error("%s", error->message);
  return data;
}

static void run_ddim(const char *const *args) {
  GPtrArray *argv = g_ptr_array_new();
  g_ptr_array_add(argv, (gpointer)ddim_binary);
  for (int i = 0; args[i]; i++) g_ptr_array_add(argv, (gpointer)args[i]);
  g_ptr_array_add(argv, NULL);
  g_autofree char *standard_error = NULL;
  int status = 0;
  g_autoptr(GError) error = NULL;
  gboolean spawned = g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_STDOUT_TO_DEV_NULL,
                                  NULL, NULL, NULL, &standard_error, &status, &error);
  g_ptr_array_free(argv, TRUE);
  g_assert_no_error(error);
  g_assert_true(spawned);
  if (!g_spawn_check_wait_status(status, NULL)) g_error("ddim failed: %s", standard_error);
}

static double compare(const char *got_path, const char *expected_path, gboolean relative) {
  DdimShape got_shape, expected_shape;
  g_autofree float *got = load(got_path, &got_shape);
  g_autofree float *expected = load(expected_path, &expected_shape);
  g_assert_cmpmem(&got_shape, sizeof got_shape, &expected_shape, sizeof expected_shape);
  double max_diff = 0.0, max_ref = 0.0;
  for (size_t i = 0; i < ddim_shape_elements(got_shape); i++) {
    max_diff = fmax(max_diff, fabs((double)got[i] - expected[i]));
    max_ref = fmax(max_ref, fabs((double)expected[i]));
  }
  return relative ? max_diff / fmax(max_ref, 1e-30) : max_diff;
}

static void test_model(gconstpointer data) {
  const char *name = data;
  JsonObject *entry =
      json_object_get_object_member(json_object_get_object_member(manifest, "models"), name);
  g_autofree char *model =
      g_build_filename(fixtures_dir, json_object_get_string_member(entry, "path"), NULL);
  JsonArray *cases = json_object_get_array_member(entry, "cases");
  int checked = 0;
  for (guint i = 0; i < json_array_get_length(cases); i++) {
    JsonObject *c = json_array_get_object_element(cases, i);
    const char *kind = json_object_get_string_member(c, "kind");
    if (strcmp(kind, "eps") != 0 && strcmp(kind, "sample") != 0) continue;
    g_autofree char *input =
        g_build_filename(fixtures_dir, json_object_get_string_member(c, "input"), NULL);
    g_autofree char *expected =
        g_build_filename(fixtures_dir, json_object_get_string_member(c, "output"), NULL);
    g_autofree char *out = g_build_filename(scratch_dir, "out.npy", NULL);
    if (strcmp(kind, "eps") == 0) {
      JsonArray *timesteps = json_object_get_array_member(c, "timesteps");
      gint64 t0 = json_array_get_int_element(timesteps, 0);
      gboolean uniform = TRUE;
      for (guint b = 1; b < json_array_get_length(timesteps); b++)
        uniform = uniform && json_array_get_int_element(timesteps, b) == t0;
      if (!uniform) continue; /* the CLI takes one timestep for the batch */
      g_autofree char *t = g_strdup_printf("%" G_GINT64_FORMAT, t0);
      const char *args[] = {"eps", model, input, "--timestep", t, "-o", out, NULL};
      run_ddim(args);
      double err = compare(out, expected, TRUE);
      g_test_message("%s eps t=%s: relative error %.2e", name, t, err);
      g_assert_cmpfloat(err, <=, 1e-5);
    } else {
      /* Only the η = 0 runs that start from the full schedule: what
       * `generate --xt` does. */
      if (json_object_get_double_member(c, "eta") != 0.0) continue;
      if (json_object_has_member(c, "strength") && !json_object_get_null_member(c, "strength") &&
          json_object_get_double_member(c, "strength") != 1.0)
        continue;
      g_autofree char *steps =
          g_strdup_printf("%" G_GINT64_FORMAT, json_object_get_int_member(c, "steps"));
      gint64 clip = json_object_get_int_member(c, "clip_param");
      /* clip_param: -1 the scheduler config's default (no flag), 0 --no-clip, 1 --clip */
      const char *clip_flag = clip < 0 ? NULL : clip ? "--clip" : "--no-clip";
      const char *schedule = json_object_get_string_member(c, "schedule");
      const char *args[] = {"generate",   model,    "--xt", input, "--eta",   "0", "--steps", steps,
                            "--schedule", schedule, "-o",   out,   clip_flag, NULL};
      run_ddim(args);
      double err = compare(out, expected, FALSE);
      double floor = json_object_has_member(c, "f32_vs_f64_max_rel")
                         ? json_object_get_double_member(c, "f32_vs_f64_max_rel")
                         : 0.0;
      double scale = 0.0;
      {
        DdimShape shape;
        g_autofree float *ref = load(expected, &shape);
        for (size_t k = 0; k < ddim_shape_elements(shape); k++)
          scale = fmax(scale, fabs((double)ref[k]));
      }
      g_test_message("%s %s: max abs error %.2e (reference spread %.2e, scale %.1f)", name,
                     json_object_get_string_member(c, "output"), err, floor, scale);
      g_assert_cmpfloat(err / fmax(1.0, scale), <=, fmax(2e-4, 4.0 * floor));
    }
    checked++;
  }
  g_assert_cmpint(checked, >, 0);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  fixtures_dir = g_getenv("DDIM_FIXTURES");
  if (!fixtures_dir) fixtures_dir = DDIM_FIXTURES_DIR;
  ddim_binary = g_getenv("DDIM_BINARY");
  if (!ddim_binary) g_error("DDIM_BINARY is not set");
  scratch_dir = g_dir_make_tmp("ddim-cli-ref-XXXXXX", NULL);
  g_autofree char *manifest_path = g_build_filename(fixtures_dir, "manifest.json", NULL);
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) error = NULL;
  if (!json_parser_load_from_file(parser, manifest_path, &error)) g_error("%s", error->message);
  manifest = json_node_get_object(json_parser_get_root(parser));
  g_autoptr(GList) models =
      json_object_get_members(json_object_get_object_member(manifest, "models"));
  for (GList *it = models; it; it = it->next) {
    g_autofree char *path = g_strdup_printf("/cli-reference/%s", (const char *)it->data);
    g_test_add_data_func(path, it->data, test_model);
  }
  int status = g_test_run();
  g_autofree char *out = g_build_filename(scratch_dir, "out.npy", NULL);
  g_unlink(out);
  g_rmdir(scratch_dir);
  return status;
}
