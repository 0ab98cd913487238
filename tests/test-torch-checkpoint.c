/* test-torch-checkpoint.c — models from PyTorch checkpoints.
 *
 * tests/fixtures/torch/ (tools/make_torch_fixtures.py) holds one tiny
 * network saved by torch.save in every supported shape: diffusers .bin
 * (OrderedDict with _metadata, old attention names), shards with an index,
 * legacy-format files, strided views into shared storages, the original
 * DDPM layout with config.json beside it, ermongroup training checkpoints
 * (EMA and not), F16; an original checkpoint without config.json; and
 * hostile files.  Every copy of the weights must give bit-identical ε to the
 * safetensors copy, ε must match PyTorch, conversion must round-trip
 * bit-exactly, every hostile file must be refused with its message, and the
 * official DDPM/DDIM configs must be inferred from their tensor shapes. */
#include "ddim-convert.h"
#include "ddpm-original.h"
#include "model.h"
#include "ddim-io.h"
#include "torch-checkpoint.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

static char *torch_dir;
static JsonObject *manifest;

static char *fixture(const char *relative) {
  return g_build_filename(torch_dir, relative, NULL);
}

static float *load_npy(const char *relative, DdimShape *shape) {
  g_autofree char *path = fixture(relative);
  g_autoptr(GError) error = NULL;
  float *data = NULL;
  if (!ddim_npy_read(path, &data, shape, &error)) g_error("%s", error->message);
  return data;
}

static DdimModel *load_model(const char *relative, const char *config) {
  g_autofree char *path = fixture(relative);
  g_autoptr(GError) error = NULL;
  DdimModel *model = ddim_model_load_with_config(path, config, &error);
  if (!model) g_error("%s: %s", relative, error->message);
  return model;
}

/* ε of a model for an input at timestep t (all images). */
static float *eps_at(DdimModel *model, const float *x, DdimShape shape, int t) {
  g_autofree float *timesteps = g_new(float, shape.n);
  for (int i = 0; i < shape.n; i++) timesteps[i] = (float)t;
  float *eps = g_new(float, ddim_shape_elements(shape));
  g_autoptr(GError) error = NULL;
  if (!ddim_model_eps(model, x, shape, timesteps, eps, &error)) g_error("%s", error->message);
  return eps;
}

static double relative_error(const float *a, const float *b, size_t n) {
  double diff = 0.0, scale = 0.0;
  for (size_t i = 0; i < n; i++) {
    diff = fmax(diff, fabs((double)a[i] - b[i]));
    scale = fmax(scale, fabs((double)b[i]));
  }
  return scale > 0.0 ? diff / scale : diff;
}

/* Every case of `cases` ({timestep, output}) against a model, relatively. */
static void check_against_pytorch(DdimModel *model, const char *input, JsonArray *cases,
                                  double tolerance) {
  DdimShape shape, expected_shape;
  g_autofree float *x = load_npy(input, &shape);
  for (guint i = 0; i < json_array_get_length(cases); i++) {
    JsonObject *test_case = json_array_get_object_element(cases, i);
    int t = (int)json_object_get_int_member(test_case, "timestep");
    g_autofree float *expected =
        load_npy(json_object_get_string_member(test_case, "output"), &expected_shape);
    g_autofree float *eps = eps_at(model, x, shape, t);
    double error = relative_error(eps, expected, ddim_shape_elements(shape));
    g_test_message("t=%d: relative error %.2e against PyTorch", t, error);
    g_assert_cmpfloat(error, <=, tolerance);
  }
}

/* ---- Format detection ----------------------------------------------------- */

static void test_sniff(void) {
  static const guint8 zip[] = "PK\3\4rest";
  static const guint8 legacy[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                  0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};
  static const guint8 legacy4[] = {0x80, 0x04, 0x95, 1,    0,    0,    0,    0,
                                   0,    0,    0,    0x8a, 0x0a, 0x6c, 0xfc, 0x9c,
                                   0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};
  static const guint8 safetensors[] = "\x02\0\0\0\0\0\0\0{}";
  static const guint8 index[] = "  {\"weight_map\": {}}";
  static const guint8 pickle[] = {0x80, 0x02, '}', '.'};
  g_assert_cmpint(ddim_weights_sniff(zip, sizeof zip - 1), ==, DDIM_WEIGHTS_TORCH_ZIP);
  g_assert_cmpint(ddim_weights_sniff(legacy, sizeof legacy), ==, DDIM_WEIGHTS_TORCH_LEGACY);
  g_assert_cmpint(ddim_weights_sniff(legacy4, sizeof legacy4), ==, DDIM_WEIGHTS_TORCH_LEGACY);
  g_assert_cmpint(ddim_weights_sniff(legacy, sizeof legacy - 1), ==, DDIM_WEIGHTS_UNKNOWN);
  g_assert_cmpint(ddim_weights_sniff(safetensors, sizeof safetensors - 1), ==,
                  DDIM_WEIGHTS_SAFETENSORS);
  g_assert_cmpint(ddim_weights_sniff(index, sizeof index - 1), ==, DDIM_WEIGHTS_SHARD_INDEX);
  /* A bare pickle is no checkpoint (torch.save always writes the magic). */
  g_assert_cmpint(ddim_weights_sniff(pickle, sizeof pickle), ==, DDIM_WEIGHTS_UNKNOWN);
  g_assert_cmpint(ddim_weights_sniff(zip, 0), ==, DDIM_WEIGHTS_UNKNOWN);
}

/* ---- The same weights in every container ---------------------------------- */

static void test_same_weights(void) {
  JsonObject *tiny = json_object_get_object_member(manifest, "tiny");
  g_autoptr(DdimModel) reference =
      load_model(json_object_get_string_member(tiny, "safetensors"), NULL);
  check_against_pytorch(reference, json_object_get_string_member(tiny, "input"),
                        json_object_get_array_member(tiny, "eps"), 1e-4);
  DdimShape shape;
  g_autofree float *x = load_npy(json_object_get_string_member(tiny, "input"), &shape);
  size_t count = ddim_shape_elements(shape);
  static const int timesteps[] = {0, 37, 999};
  float *expected[3];
  for (int k = 0; k < 3; k++) expected[k] = eps_at(reference, x, shape, timesteps[k]);

  JsonArray *copies = json_object_get_array_member(tiny, "same_weights");
  for (guint i = 0; i < json_array_get_length(copies); i++) {
    const char *copy = json_array_get_string_element(copies, i);
    g_autoptr(DdimModel) model = load_model(copy, NULL);
    g_test_message("%s: %s", copy, ddim_model_get_source(model));
    g_assert_cmpstr(ddim_model_get_info(model)->weights_dtype, ==, "F32");
    g_assert_cmpuint(ddim_model_get_info(model)->parameter_count, ==,
                     ddim_model_get_info(reference)->parameter_count);
    for (int k = 0; k < 3; k++) {
      g_autofree float *eps = eps_at(model, x, shape, timesteps[k]);
      if (memcmp(eps, expected[k], count * sizeof(float)) != 0)
        g_error("%s: eps at t=%d differs from the safetensors copy", copy, timesteps[k]);
    }
  }
  for (int k = 0; k < 3; k++) g_free(expected[k]);
}

static void test_sources(void) {
  static const struct {
    const char *model, *source;
  } cases[] = {
      {"diffusers_bin", "PyTorch zip checkpoint, state dict"},
      {"diffusers_files/legacy.bin", "PyTorch legacy checkpoint, state dict"},
      {"diffusers_sharded", "2 shards"},
      {"original/training.pth", "EMA weights of a training checkpoint; original DDPM layout"},
      {"original/training_noema.pth", "model weights of a training checkpoint (\"module.\""},
      {"inferred/model.ckpt", "config inferred from the tensor shapes"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(DdimModel) model = load_model(cases[i].model, NULL);
    const char *source = ddim_model_get_source(model);
    if (!strstr(source, cases[i].source))
      g_error("%s: source \"%s\" lacks \"%s\"", cases[i].model, source, cases[i].source);
  }
}

static void test_f16(void) {
  JsonObject *tiny = json_object_get_object_member(manifest, "tiny");
  g_autoptr(DdimModel) model = load_model(json_object_get_string_member(tiny, "f16"), NULL);
  g_assert_cmpstr(ddim_model_get_info(model)->weights_dtype, ==, "F16");
  check_against_pytorch(model, json_object_get_string_member(tiny, "input"),
                        json_object_get_array_member(tiny, "f16_eps"), 1e-4);
}

/* ---- An original checkpoint without config.json --------------------------- */

static void test_inferred(void) {
  JsonObject *inferred = json_object_get_object_member(manifest, "inferred");
  g_autoptr(DdimModel) model = load_model(json_object_get_string_member(inferred, "model"), NULL);
  const DdimModelInfo *info = ddim_model_get_info(model);
  g_assert_null(info->config_path);
  g_assert_cmpint(info->sample_width, ==, 16);
  g_assert_cmpint(info->in_channels, ==, 1);
  g_assert_cmpstr(info->weights_dtype, ==, "F16");
  /* The original DDPM schedule: linear 1e-4..0.02 over 1000 steps. */
  g_assert_cmpstr(info->beta_schedule, ==, "linear");
  g_assert_cmpint(info->num_train_timesteps, ==, 1000);
  g_assert_cmpfloat(info->beta_start, ==, 1e-4);
  g_assert_cmpfloat(info->beta_end, ==, 0.02);

  /* The inferred config is the one the fixture's PyTorch model was built with. */
  JsonNode *expected_node = json_object_get_member(inferred, "config");
  g_autofree char *expected_text = json_to_string(expected_node, FALSE);
  DdimUnetConfig expected;
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_unet_config_parse(expected_text, -1, "manifest", &expected, &error));
  g_assert_cmpmem(&model->config, sizeof model->config, &expected, sizeof expected);

  check_against_pytorch(model, json_object_get_string_member(inferred, "input"),
                        json_object_get_array_member(inferred, "eps"), 1e-4);
}

/* --config: a file, an official name, and a name that is neither. */
static void test_forced_config(void) {
  g_autoptr(GError) error = NULL;
  g_autofree char *path = fixture("inferred/model.ckpt");
  g_autoptr(DdimModel) wrong = ddim_model_load_with_config(path, "cifar10", &error);
  g_assert_null(wrong);
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT);
  g_assert_nonnull(strstr(error->message, "model.ckpt"));
  g_clear_error(&error);
  g_autoptr(DdimModel) unknown = ddim_model_load_with_config(path, "imagenet", &error);
  g_assert_null(unknown);
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull(strstr(error->message, "imagenet"));
  g_clear_error(&error);

  /* The tiny original network has 4 channels: 32 groups cannot be inferred,
   * so a copy without config.json needs --config. */
  g_autofree char *folder = g_dir_make_tmp("ddim-torch-XXXXXX", NULL);
  g_autofree char *copy = g_build_filename(folder, "model.ckpt", NULL);
  g_autofree char *source = fixture("original/model.ckpt");
  g_autofree char *bytes = NULL;
  gsize size = 0;
  g_assert_true(g_file_get_contents(source, &bytes, &size, NULL));
  g_assert_true(g_file_set_contents(copy, bytes, (gssize)size, NULL));
  g_autoptr(DdimModel) refused = ddim_model_load(copy, &error);
  g_assert_null(refused);
  g_assert_nonnull(strstr(error->message, "--config"));
  g_clear_error(&error);
  g_autofree char *config = fixture("original/config.json");
  g_autoptr(DdimModel) forced = ddim_model_load_with_config(copy, config, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(ddim_model_get_info(forced)->config_path, ==, config);
  g_unlink(copy);
  g_rmdir(folder);
}

/* ---- Conversion ----------------------------------------------------------- */

static void remove_folder(const char *folder) {
  g_autoptr(GDir) dir = g_dir_open(folder, 0, NULL);
  for (const char *name; dir && (name = g_dir_read_name(dir));) {
    g_autofree char *path = g_build_filename(folder, name, NULL);
    g_unlink(path);
  }
  g_rmdir(folder);
}

static void check_conversion(const char *relative, const char *input, DdimConvertDtype dtype,
                             const char *expected_dtype) {
  g_autoptr(DdimModel) source = load_model(relative, NULL);
  g_autofree char *base = g_dir_make_tmp("ddim-convert-XXXXXX", NULL);
  g_autofree char *out = g_build_filename(base, "converted", NULL);
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_model_convert(source, out, dtype, &error));
  g_assert_no_error(error);
  /* A second conversion into the same folder is refused. */
  g_assert_false(ddim_model_convert(source, out, dtype, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT);
  g_clear_error(&error);

  g_autoptr(DdimModel) converted = ddim_model_load(out, &error);
  g_assert_no_error(error);
  const DdimModelInfo *a = ddim_model_get_info(source), *b = ddim_model_get_info(converted);
  g_assert_cmpstr(ddim_model_get_source(converted), ==, "safetensors");
  g_assert_cmpstr(b->weights_dtype, ==, expected_dtype);
  g_assert_cmpuint(a->parameter_count, ==, b->parameter_count);
  g_assert_cmpint(a->num_train_timesteps, ==, b->num_train_timesteps);
  g_assert_cmpstr(a->beta_schedule, ==, b->beta_schedule);
  g_assert_cmpint(a->clip_sample, ==, b->clip_sample);
  g_assert_cmpint(a->set_alpha_to_one, ==, b->set_alpha_to_one);
  g_assert_cmpmem(&source->config, sizeof source->config, &converted->config,
                  sizeof converted->config);
  g_assert_cmpmem(
      source->schedule.alphas_cumprod, source->schedule.num_train_timesteps * sizeof(float),
      converted->schedule.alphas_cumprod, converted->schedule.num_train_timesteps * sizeof(float));
  DdimShape shape;
  g_autofree float *x = load_npy(input, &shape);
  for (int t = 0; t < 1000; t += 333) {
    g_autofree float *e1 = eps_at(source, x, shape, t);
    g_autofree float *e2 = eps_at(converted, x, shape, t);
    if (memcmp(e1, e2, ddim_shape_elements(shape) * sizeof(float)) != 0)
      g_error("%s: the converted model's eps at t=%d differs", relative, t);
  }
  remove_folder(out);
  g_rmdir(base);
}

static void test_convert(void) {
  check_conversion("diffusers_bin", "diffusers_st/x.npy", DDIM_CONVERT_F32, "F32");
  check_conversion("original/training.pth", "diffusers_st/x.npy", DDIM_CONVERT_F32, "F32");
  check_conversion("diffusers_files/f16.pt", "diffusers_st/x.npy", DDIM_CONVERT_F32, "F32");
  check_conversion("diffusers_files/f16.pt", "diffusers_st/x.npy", DDIM_CONVERT_SOURCE_DTYPE,
                   "F16");
  check_conversion("inferred/model.ckpt", "inferred/x.npy", DDIM_CONVERT_SOURCE_DTYPE, "F16");
}

/* The converted original checkpoint equals the safetensors written by
 * PyTorch tools from the same weights, tensor for tensor. */
static void test_convert_matches_safetensors(void) {
  g_autoptr(DdimModel) source = load_model("original/legacy.ckpt", NULL);
  g_autofree char *base = g_dir_make_tmp("ddim-convert-XXXXXX", NULL);
  g_autofree char *out = g_build_filename(base, "converted", NULL);
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_model_convert(source, out, DDIM_CONVERT_F32, &error));
  g_autofree char *converted_path =
      g_build_filename(out, "diffusion_pytorch_model.safetensors", NULL);
  g_autofree char *reference_path = fixture("diffusers_st/diffusion_pytorch_model.safetensors");
  g_autoptr(DdimSafetensors) converted = ddim_safetensors_open(converted_path, &error);
  g_assert_no_error(error);
  g_autoptr(DdimSafetensors) reference = ddim_safetensors_open(reference_path, &error);
  g_assert_no_error(error);
  g_assert_cmpint(converted->n_tensors, ==, reference->n_tensors);
  for (int i = 0; i < reference->n_tensors; i++) {
    const DdimStTensor *want = &reference->tensors[i];
    const DdimStTensor *have = ddim_safetensors_find(converted, want->name);
    if (!have) g_error("converted file lacks %s", want->name);
    g_assert_cmpint(have->rank, ==, want->rank);
    g_assert_cmpmem(have->shape, have->rank * sizeof(int64_t), want->shape,
                    want->rank * sizeof(int64_t));
    g_assert_cmpmem(have->data, have->nbytes, want->data, want->nbytes);
  }
  remove_folder(out);
  g_rmdir(base);
}

/* ---- Hostile files -------------------------------------------------------- */

static void test_hostile(void) {
  const char *marker = json_object_get_string_member(manifest, "marker");
  g_unlink(marker);
  JsonArray *cases = json_object_get_array_member(manifest, "hostile");
  for (guint i = 0; i < json_array_get_length(cases); i++) {
    JsonObject *test_case = json_array_get_object_element(cases, i);
    const char *file = json_object_get_string_member(test_case, "file");
    const char *expect = json_object_get_string_member(test_case, "expect");
    g_autofree char *path = fixture(file);
    g_autoptr(GError) error = NULL;
    g_autoptr(DdimSafetensors) table = ddim_weights_open(path, NULL, &error);
    if (table) {
      /* Readable, but no model: the load must fail later. */
      g_autoptr(DdimModel) model = ddim_model_load(path, &error);
      if (model) g_error("%s: accepted", file);
    }
    g_assert_nonnull(error);
    g_assert_true(error->domain == DDIM_ERROR);
    if (!strstr(error->message, expect) || !strstr(error->message, path))
      g_error("%s: message \"%s\" lacks \"%s\" or the path", file, error->message, expect);
    g_test_message("%s: %s", file, error->message);
    g_assert_false(g_file_test(marker, G_FILE_TEST_EXISTS));
  }
}

/* ---- Shard indexes: the JSON classes of json-util.c ------------------------ */

/* An index that json-glib read one way and Python or serde_json another (or
 * not at all) is refused, naming the index and the member. */
static void test_index_json(void) {
  static const char *const cases[][2] = {
      /* The same tensor in two shards: json-glib kept the last. */
      {"{\"weight_map\": {\"a\": \"one.safetensors\", \"a\": \"two.safetensors\"}}",
       "\"a\" appears twice in one object (line 1, column 41)"},
      {"{\"weight_map\": {\"a\": \"one.safetensors\"}, \"weight_map\": {}}",
       "\"weight_map\" appears twice"},
      {"{\"metadata\": {\"m\": {\"k\": 1, \"k\": {}}}, \"weight_map\": {}}", "\"k\" appears twice"},
      /* A NUL would cut a name or a shard's file name short. */
      {"{\"weight_map\": {\"a\\u0000b\": \"one.safetensors\"}}",
       "a key holds an escaped NUL character (\\u0000)"},
      {"{\"weight_map\": {\"a\": \"one.safetensors\\u0000/../x\"}}",
       "\"a\" holds an escaped NUL character (\\u0000)"},
      {"{\"metadata\": {\"total_size\": 18446744073709551616}, \"weight_map\": {}}",
       "\"total_size\" is 18446744073709551616, outside the range of a 64-bit integer"},
      {"{\"metadata\": {\"total_size\": 1e400}, \"weight_map\": {}}", "too large"},
      {"{\"weight_map\": {\"a\": \"one.safetensors\",}}", "a comma before '}'"},
      {"{\"weight_map\": {'a': \"one.safetensors\"}}", "a single-quoted string"},
      {"{/* shards */ \"weight_map\": {}}", "a comment"},
      {"{\"metadata\": {\"total_size\": 0x10}, \"weight_map\": {}}", "a hexadecimal number"},
      {"{\"weight_map\": {}} {}", "text follows the JSON value"},
  };
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp("ddim-index-XXXXXX", &error);
  g_assert_no_error(error);
  g_autofree char *path = g_build_filename(dir, "diffusion_pytorch_model.bin.index.json", NULL);
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_assert_true(g_file_set_contents(path, cases[i][0], -1, NULL));
    g_autoptr(GError) refusal = NULL;
    g_autoptr(DdimSafetensors) table = ddim_weights_open(path, NULL, &refusal);
    if (table) g_error("accepted: %s", cases[i][0]);
    g_assert_error(refusal, DDIM_ERROR, DDIM_ERROR_FORMAT);
    g_autofree char *prefix = g_strdup_printf("%s: ", path);
    if (!g_str_has_prefix(refusal->message, prefix) || !strstr(refusal->message, cases[i][1]))
      g_error("%s: \"%s\" does not name the index or lacks \"%s\"", cases[i][0], refusal->message,
              cases[i][1]);
    g_test_message("%s -> %s", cases[i][0], refusal->message);
  }
  g_unlink(path);
  g_rmdir(dir);
}

/* ---- Official configs from synthetic tables -------------------------------- */

/* The tensors of ermongroup/ddim's Model (models/diffusion.py), named and
 * shaped as its state dict; all point at one zeroed buffer. */
typedef struct {
  DdimSafetensors *table;
  const guint8 *zeros;
  int temb;
} Synthetic;

static void add_tensor(Synthetic *s, const char *name, int rank, int64_t a, int64_t b, int64_t c,
                       int64_t d) {
  const int64_t shape[4] = {a, b, c, d};
  g_autoptr(GError) error = NULL;
  if (!ddim_tensor_table_add(s->table, name, "F32", rank, shape, s->zeros, &error))
    g_error("%s", error->message);
}

/* A module's weight (rank 1, 2 or 4) and bias; `module` is prefix.name. */
static void add_module(Synthetic *s, const char *prefix, const char *name, int rank, int64_t out,
                       int64_t in, int64_t k) {
  g_autofree char *module = prefix ? g_strdup_printf("%s.%s", prefix, name) : g_strdup(name);
  g_autofree char *weight = g_strdup_printf("%s.weight", module);
  g_autofree char *bias = g_strdup_printf("%s.bias", module);
  if (rank == 1)
    add_tensor(s, weight, 1, out, 0, 0, 0);
  else if (rank == 2)
    add_tensor(s, weight, 2, out, in, 0, 0);
  else
    add_tensor(s, weight, 4, out, in, k, k);
  add_tensor(s, bias, 1, out, 0, 0, 0);
}

static void add_resblock(Synthetic *s, const char *prefix, int in, int out) {
  add_module(s, prefix, "norm1", 1, in, 0, 0);
  add_module(s, prefix, "conv1", 4, out, in, 3);
  add_module(s, prefix, "temb_proj", 2, out, s->temb, 0);
  add_module(s, prefix, "norm2", 1, out, 0, 0);
  add_module(s, prefix, "conv2", 4, out, out, 3);
  if (in != out) add_module(s, prefix, "nin_shortcut", 4, out, in, 1);
}

static void add_attention(Synthetic *s, const char *prefix, int c) {
  add_module(s, prefix, "norm", 1, c, 0, 0);
  add_module(s, prefix, "q", 4, c, c, 1);
  add_module(s, prefix, "k", 4, c, c, 1);
  add_module(s, prefix, "v", 4, c, c, 1);
  add_module(s, prefix, "proj_out", 4, c, c, 1);
}

static DdimSafetensors *original_network(const int *mult, int levels, int attention_level,
                                         const guint8 *zeros) {
  const int ch = 128, blocks = 2;
  Synthetic s = {ddim_tensor_table_new("synthetic.ckpt", 1000), zeros, 4 * ch};
  add_module(&s, "temb.dense", "0", 2, 4 * ch, ch, 0);
  add_module(&s, "temb.dense", "1", 2, 4 * ch, 4 * ch, 0);
  add_module(&s, NULL, "conv_in", 4, ch, 3, 3);
  int in_mult[DDIM_MAX_BLOCKS + 1] = {1};
  for (int i = 0; i < levels; i++) in_mult[i + 1] = mult[i];
  int block_in = ch;
  for (int level = 0; level < levels; level++) {
    block_in = ch * in_mult[level];
    int block_out = ch * mult[level];
    for (int b = 0; b < blocks; b++) {
      g_autofree char *block = g_strdup_printf("down.%d.block.%d", level, b);
      add_resblock(&s, block, block_in, block_out);
      block_in = block_out;
      g_autofree char *attn = g_strdup_printf("down.%d.attn.%d", level, b);
      if (level == attention_level) add_attention(&s, attn, block_in);
    }
    g_autofree char *down = g_strdup_printf("down.%d.downsample", level);
    if (level != levels - 1) add_module(&s, down, "conv", 4, block_in, block_in, 3);
  }
  add_resblock(&s, "mid.block_1", block_in, block_in);
  add_attention(&s, "mid.attn_1", block_in);
  add_resblock(&s, "mid.block_2", block_in, block_in);
  for (int level = levels - 1; level >= 0; level--) {
    int block_out = ch * mult[level];
    for (int b = 0; b <= blocks; b++) {
      int skip = b == blocks ? ch * in_mult[level] : ch * mult[level];
      g_autofree char *block = g_strdup_printf("up.%d.block.%d", level, b);
      add_resblock(&s, block, block_in + skip, block_out);
      block_in = block_out;
      g_autofree char *attn = g_strdup_printf("up.%d.attn.%d", level, b);
      if (level == attention_level) add_attention(&s, attn, block_in);
    }
    g_autofree char *up = g_strdup_printf("up.%d.upsample", level);
    if (level != 0) add_module(&s, up, "conv", 4, block_in, block_in, 3);
  }
  add_module(&s, NULL, "norm_out", 1, block_in, 0, 0);
  add_module(&s, NULL, "conv_out", 4, 3, block_in, 3);
  return s.table;
}

static void test_official_configs(void) {
  static const struct {
    const char *name, *title;
    int levels, mult[6], attention_level, size, tensors;
    uint64_t parameters; /* from the DDPM paper / ermongroup constructor */
  } cases[] = {
      {"cifar10", "CIFAR-10", 4, {1, 2, 2, 2}, 1, 32, 328, 35746307},
      {"celeba", "CelebA 64", 5, {1, 2, 2, 2, 4}, 2, 64, 390, 78700803},
      {"lsun", "LSUN", 6, {1, 1, 2, 2, 4, 4}, 4, 256, 450, 113673219},
  };
  /* The largest tensor: an up-block conv1 of 512 × 1024 × 3 × 3. */
  g_autofree guint8 *zeros = g_malloc0((size_t)512 * 1024 * 9 * sizeof(float));
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(DdimSafetensors) table =
        original_network(cases[i].mult, cases[i].levels, cases[i].attention_level, zeros);
    g_assert_cmpint(table->n_tensors, ==, cases[i].tensors);
    g_assert_true(ddim_ddpm_original_detect(table));
    g_autoptr(GError) error = NULL;
    g_assert_true(ddim_ddpm_original_to_diffusers(table, &error));
    g_autofree char *description = NULL;
    g_autofree char *inferred = ddim_ddpm_original_infer_config(table, &description, &error);
    g_assert_no_error(error);
    g_autofree char *official = ddim_ddpm_official_config(cases[i].name, NULL);
    g_assert_cmpstr(inferred, ==, official);
    g_assert_nonnull(strstr(description, cases[i].title));

    DdimUnetConfig config;
    g_assert_true(ddim_unet_config_parse(official, -1, cases[i].name, &config, &error));
    g_assert_cmpint(config.sample_width, ==, cases[i].size);
    g_assert_false(config.flip_sin_to_cos);
    g_assert_cmpfloat(config.freq_shift, ==, 1.0);
    g_assert_cmpint(config.downsample_padding, ==, 0);
    g_assert_cmpfloat(config.norm_eps, ==, 1e-6);
    g_assert_cmpint(config.norm_num_groups, ==, 32);
    g_assert_cmpint(config.attention_head_dim, ==, 0);
    DdimUnet *net = ddim_unet_new(&config, table, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(ddim_unet_parameter_count(net), ==, cases[i].parameters);
    ddim_unet_free(net);
  }
  g_autofree char *church = ddim_ddpm_official_config("church", NULL);
  g_autofree char *lsun = ddim_ddpm_official_config("lsun", NULL);
  g_assert_cmpstr(church, ==, lsun);
  g_assert_null(ddim_ddpm_official_config("imagenet", NULL));
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  ddim_set_threads(1);
  torch_dir = g_build_filename(DDIM_FIXTURES_DIR, "torch", NULL);
  g_autofree char *manifest_path = g_build_filename(torch_dir, "manifest.json", NULL);
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) error = NULL;
  if (!json_parser_load_from_file(parser, manifest_path, &error)) g_error("%s", error->message);
  manifest = json_node_get_object(json_parser_get_root(parser));

  g_test_add_func("/torch/sniff", test_sniff);
  g_test_add_func("/torch/same-weights", test_same_weights);
  g_test_add_func("/torch/sources", test_sources);
  g_test_add_func("/torch/f16", test_f16);
  g_test_add_func("/torch/inferred", test_inferred);
  g_test_add_func("/torch/forced-config", test_forced_config);
  g_test_add_func("/torch/convert", test_convert);
  g_test_add_func("/torch/convert-matches-safetensors", test_convert_matches_safetensors);
  g_test_add_func("/torch/hostile", test_hostile);
  g_test_add_func("/torch/index-json", test_index_json);
  g_test_add_func("/torch/official-configs", test_official_configs);
  int status = g_test_run();
  g_free(torch_dir);
  return status;
}
