/* test-unet-config.c — config.json with diffusers' UNet2DModel semantics.
 *
 * Expected values are diffusers' UNet2DModel.__init__ defaults and the
 * google/ddpm-cifar10-32 config, as listed in
 * shared/reference/diffusers-unet-ddim-safetensors.md §1.1, §1.9 and §2.1. */
#include "ddim.h"
#include "json-util.h"
#include "unet-config.h"

#include <math.h>
#include <string.h>

#define PATH "/virtual/unet/config.json"

static gboolean parse(const char *text, DdimUnetConfig *config, GError **error) {
  return ddim_unet_config_parse(text, -1, PATH, config, error);
}

static void assert_diffusers_defaults(const DdimUnetConfig *c) {
  const int channels[] = {224, 448, 672, 896};
  g_assert_cmpint(c->n_blocks, ==, 4);
  for (int i = 0; i < 4; i++) g_assert_cmpint(c->block_out_channels[i], ==, channels[i]);
  /* down: Down, AttnDown, AttnDown, AttnDown; up: AttnUp, AttnUp, AttnUp, Up. */
  const gboolean down[] = {FALSE, TRUE, TRUE, TRUE}, up[] = {TRUE, TRUE, TRUE, FALSE};
  for (int i = 0; i < 4; i++) {
    g_assert_cmpint(c->down_attention[i], ==, down[i]);
    g_assert_cmpint(c->up_attention[i], ==, up[i]);
  }
  g_assert_cmpint(c->in_channels, ==, 3);
  g_assert_cmpint(c->out_channels, ==, 3);
  g_assert_false(c->center_input_sample);
  g_assert_true(c->flip_sin_to_cos);
  g_assert_cmpfloat(c->freq_shift, ==, 0.0);
  g_assert_cmpint(c->time_embedding_dim, ==, 4 * 224);
  g_assert_cmpint(c->layers_per_block, ==, 2);
  g_assert_cmpfloat(c->mid_block_scale_factor, ==, 1.0);
  g_assert_cmpint(c->downsample_padding, ==, 1);
  g_assert_cmpint(c->act_fn, ==, DDIM_ACT_SILU);
  g_assert_cmpint(c->attention_head_dim, ==, 8);
  g_assert_cmpint(c->norm_num_groups, ==, 32);
  g_assert_cmpint(c->attn_norm_num_groups, ==, 32); /* = norm_num_groups for "default" */
  g_assert_cmpfloat(c->norm_eps, ==, 1e-5);
  g_assert_false(c->scale_shift);
  g_assert_true(c->has_mid_block);
  g_assert_true(c->mid_attention);
  /* 8-channel heads: 448/8 = 56 heads. */
  g_assert_cmpint(ddim_unet_config_heads(c, 448), ==, 56);
}

static void test_empty_object_is_defaults(void) {
  DdimUnetConfig config;
  g_autoptr(GError) error = NULL;
  g_assert_true(parse("{}", &config, &error));
  g_assert_no_error(error);
  assert_diffusers_defaults(&config);
  /* Unknown keys and keys starting with '_' are ignored. */
  g_assert_true(parse("{\"_diffusers_version\": \"0.25.0\", \"dropout\": 0.1, \"something\": [1]}",
                      &config, &error));
  g_assert_no_error(error);
  assert_diffusers_defaults(&config);
}

/* google/ddpm-cifar10-32 (reference §2.1), with attention_head_dim null. */
static const char *const cifar10_config =
    "{\n"
    "  \"_class_name\": \"UNet2DModel\",\n"
    "  \"_diffusers_version\": \"0.0.4\",\n"
    "  \"act_fn\": \"silu\",\n"
    "  \"attention_head_dim\": null,\n"
    "  \"block_out_channels\": [128, 256, 256, 256],\n"
    "  \"center_input_sample\": false,\n"
    "  \"down_block_types\": [\"DownBlock2D\", \"AttnDownBlock2D\", \"DownBlock2D\", "
    "\"DownBlock2D\"],\n"
    "  \"downsample_padding\": 0,\n"
    "  \"flip_sin_to_cos\": false,\n"
    "  \"freq_shift\": 1,\n"
    "  \"in_channels\": 3,\n"
    "  \"layers_per_block\": 2,\n"
    "  \"mid_block_scale_factor\": 1,\n"
    "  \"norm_eps\": 1e-06,\n"
    "  \"norm_num_groups\": 32,\n"
    "  \"out_channels\": 3,\n"
    "  \"sample_size\": 32,\n"
    "  \"time_embedding_type\": \"positional\",\n"
    "  \"up_block_types\": [\"UpBlock2D\", \"UpBlock2D\", \"AttnUpBlock2D\", \"UpBlock2D\"]\n"
    "}\n";

static void test_google_cifar10(void) {
  DdimUnetConfig c;
  g_autoptr(GError) error = NULL;
  g_assert_true(parse(cifar10_config, &c, &error));
  g_assert_no_error(error);
  g_assert_cmpint(c.sample_height, ==, 32);
  g_assert_cmpint(c.sample_width, ==, 32);
  g_assert_cmpint(c.n_blocks, ==, 4);
  const int channels[] = {128, 256, 256, 256};
  const gboolean down[] = {FALSE, TRUE, FALSE, FALSE}, up[] = {FALSE, FALSE, TRUE, FALSE};
  for (int i = 0; i < 4; i++) {
    g_assert_cmpint(c.block_out_channels[i], ==, channels[i]);
    g_assert_cmpint(c.down_attention[i], ==, down[i]);
    g_assert_cmpint(c.up_attention[i], ==, up[i]);
  }
  g_assert_cmpint(c.attention_head_dim, ==, 0); /* null: one head */
  g_assert_cmpint(ddim_unet_config_heads(&c, 256), ==, 1);
  g_assert_false(c.flip_sin_to_cos);
  g_assert_cmpfloat(c.freq_shift, ==, 1.0);
  g_assert_cmpint(c.downsample_padding, ==, 0);
  g_assert_cmpfloat(c.norm_eps, ==, 1e-6);
  g_assert_cmpint(c.norm_num_groups, ==, 32);
  g_assert_cmpint(c.attn_norm_num_groups, ==, 32);
  g_assert_cmpint(c.layers_per_block, ==, 2);
  g_assert_cmpint(c.time_embedding_dim, ==, 512);
  g_assert_cmpint(c.in_channels, ==, 3);
  g_assert_cmpint(c.out_channels, ==, 3);
  g_assert_true(c.has_mid_block);
  g_assert_true(c.mid_attention);
  g_assert_false(c.scale_shift);
}

/* A missing attention_head_dim is 8, not one head (reference §1.9). */
/* Attention only where it runs: up_blocks.0 works at the last (here 32)
 * channels, so 100 channels without attention are fine with 8-wide heads. */
static void test_head_dim_checked_per_attention_block(void) {
  DdimUnetConfig c;
  g_autoptr(GError) error = NULL;
  g_assert_true(parse("{\"block_out_channels\": [100, 32], \"down_block_types\": [\"DownBlock2D\", "
                      "\"DownBlock2D\"], \"up_block_types\": [\"AttnUpBlock2D\", \"UpBlock2D\"], "
                      "\"add_attention\": false, \"norm_num_groups\": 4}",
                      &c, &error));
  g_assert_no_error(error);
  g_assert_true(c.up_attention[0]);
  g_assert_false(c.up_attention[1]);
  g_assert_false(c.mid_attention);
}

static void test_missing_head_dim_is_eight(void) {
  DdimUnetConfig c;
  g_autoptr(GError) error = NULL;
  g_assert_true(
      parse("{\"block_out_channels\": [32, 64], \"down_block_types\": [\"DownBlock2D\", "
            "\"AttnDownBlock2D\"], \"up_block_types\": [\"AttnUpBlock2D\", \"UpBlock2D\"]}",
            &c, &error));
  g_assert_no_error(error);
  g_assert_cmpint(c.attention_head_dim, ==, 8);
  g_assert_cmpint(ddim_unet_config_heads(&c, 64), ==, 8);
  g_assert_cmpint(c.n_blocks, ==, 2);
  g_assert_cmpint(c.time_embedding_dim, ==, 128);
}

static void test_use_default_values(void) {
  DdimUnetConfig c;
  g_autoptr(GError) error = NULL;
  /* Listed keys are dropped: their (non-default) values do not apply. */
  g_assert_true(
      parse("{\"_use_default_values\": [\"attention_head_dim\", \"norm_eps\", "
            "\"flip_sin_to_cos\", \"block_out_channels\"],"
            " \"attention_head_dim\": null, \"norm_eps\": 1e-6, \"flip_sin_to_cos\": false,"
            " \"block_out_channels\": [1, 2, 3, 4], \"freq_shift\": 1}",
            &c, &error));
  g_assert_no_error(error);
  g_assert_cmpint(c.attention_head_dim, ==, 8);
  g_assert_cmpfloat(c.norm_eps, ==, 1e-5);
  g_assert_true(c.flip_sin_to_cos);
  g_assert_cmpint(c.block_out_channels[0], ==, 224);
  g_assert_cmpint(c.block_out_channels[3], ==, 896);
  /* A key not listed still applies. */
  g_assert_cmpfloat(c.freq_shift, ==, 1.0);
}

/* The time embedding divides by half the first width minus freq_shift: a
 * config where that is 0 or below (every image NaN) is refused. */
static void test_freq_shift_divides(void) {
  const struct {
    const char *freq_shift;
    gboolean ok;
  } cases[] = {{"1", FALSE}, {"1.5", FALSE}, {"2", FALSE}, {"0.5", TRUE}, {"0", TRUE}};
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *text =
        g_strdup_printf("{\"block_out_channels\": [2, 4, 6, 8], \"norm_num_groups\": 2, "
                        "\"attention_head_dim\": 1, \"freq_shift\": %s}",
                        cases[i].freq_shift);
    DdimUnetConfig c;
    g_autoptr(GError) error = NULL;
    gboolean ok = parse(text, &c, &error);
    g_assert_cmpint(ok, ==, cases[i].ok);
    if (!cases[i].ok) {
      g_assert_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED);
      g_assert_nonnull(strstr(error->message, "time embedding would divide by"));
    }
  }
}

static void test_scale_shift_attention_groups(void) {
  DdimUnetConfig c;
  g_autoptr(GError) error = NULL;
  g_assert_true(
      parse("{\"resnet_time_scale_shift\": \"scale_shift\", \"norm_num_groups\": 16}", &c, &error));
  g_assert_no_error(error);
  g_assert_true(c.scale_shift);
  g_assert_cmpint(c.attn_norm_num_groups, ==, 0); /* no group norm in the mid attention */
  g_assert_true(
      parse("{\"resnet_time_scale_shift\": \"scale_shift\", \"attn_norm_num_groups\": null}", &c,
            &error));
  g_assert_cmpint(c.attn_norm_num_groups, ==, 0);
  /* Given explicitly, it is used. */
  g_assert_true(parse("{\"resnet_time_scale_shift\": \"scale_shift\", \"attn_norm_num_groups\": 8}",
                      &c, &error));
  g_assert_no_error(error);
  g_assert_cmpint(c.attn_norm_num_groups, ==, 8);
  /* "default" with a custom group count follows norm_num_groups. */
  g_assert_true(
      parse("{\"resnet_time_scale_shift\": \"default\", \"norm_num_groups\": 16}", &c, &error));
  g_assert_no_error(error);
  g_assert_false(c.scale_shift);
  g_assert_cmpint(c.attn_norm_num_groups, ==, 16);
}

static void test_sample_size_forms(void) {
  DdimUnetConfig c;
  g_autoptr(GError) error = NULL;
  g_assert_true(parse("{\"sample_size\": [48, 64]}", &c, &error));
  g_assert_no_error(error);
  g_assert_cmpint(c.sample_height, ==, 48);
  g_assert_cmpint(c.sample_width, ==, 64);
  g_assert_true(parse("{\"sample_size\": 256}", &c, &error));
  g_assert_cmpint(c.sample_height, ==, 256);
  g_assert_cmpint(c.sample_width, ==, 256);
  g_assert_true(parse("{\"sample_size\": null}", &c, &error));
  g_assert_no_error(error);
  g_assert_cmpint(c.sample_height, ==, 0);
  g_assert_false(parse("{\"sample_size\": [1, 2, 3]}", &c, &error));
  g_assert_nonnull(error);
  g_assert_nonnull(strstr(error->message, "sample_size"));
}

static void test_other_fields(void) {
  DdimUnetConfig c;
  g_autoptr(GError) error = NULL;
  g_assert_true(
      parse("{\"act_fn\": \"mish\", \"time_embedding_dim\": 100, \"center_input_sample\": "
            "true, \"mid_block_type\": null, \"add_attention\": false, "
            "\"mid_block_scale_factor\": 1.4142, \"class_embed_type\": null, "
            "\"num_class_embeds\": null, \"in_channels\": 1, \"out_channels\": 2}",
            &c, &error));
  g_assert_no_error(error);
  g_assert_cmpint(c.act_fn, ==, DDIM_ACT_MISH);
  g_assert_cmpint(c.time_embedding_dim, ==, 100);
  g_assert_true(c.center_input_sample);
  g_assert_false(c.has_mid_block);
  g_assert_false(c.mid_attention);
  g_assert_cmpfloat(c.mid_block_scale_factor, ==, 1.4142);
  g_assert_cmpint(c.in_channels, ==, 1);
  g_assert_cmpint(c.out_channels, ==, 2);
  g_assert_true(parse("{\"act_fn\": \"swish\"}", &c, &error));
  g_assert_cmpint(c.act_fn, ==, DDIM_ACT_SILU);
}

/* ---- refusals ------------------------------------------------------------ */

static void expect_refusal(const char *text, int code, const char *field) {
  DdimUnetConfig c;
  g_autoptr(GError) error = NULL;
  if (parse(text, &c, &error)) g_error("accepted: %s", text);
  g_assert_nonnull(error);
  if (error->domain != DDIM_ERROR || error->code != code)
    g_error("%s: code %d, expected %d (%s)", text, error->code, code, error->message);
  if (!strstr(error->message, PATH)) g_error("%s: no path in \"%s\"", text, error->message);
  if (field && !strstr(error->message, field))
    g_error("%s: \"%s\" does not name %s", text, error->message, field);
  g_test_message("%s -> %s", text, error->message);
}

static void test_refusals(void) {
  expect_refusal("{\"time_embedding_type\": \"fourier\"}", DDIM_ERROR_UNSUPPORTED,
                 "time_embedding_type");
  expect_refusal("{\"time_embedding_type\": \"learned\"}", DDIM_ERROR_UNSUPPORTED,
                 "time_embedding_type");
  expect_refusal("{\"class_embed_type\": \"timestep\"}", DDIM_ERROR_UNSUPPORTED,
                 "class_embed_type");
  expect_refusal("{\"num_class_embeds\": 10}", DDIM_ERROR_UNSUPPORTED, "num_class_embeds");
  expect_refusal(
      "{\"down_block_types\": [\"DownBlock2D\", \"SkipDownBlock2D\", \"AttnDownBlock2D\", "
      "\"AttnDownBlock2D\"]}",
      DDIM_ERROR_UNSUPPORTED, "down_block_types");
  expect_refusal(
      "{\"up_block_types\": [\"AttnUpBlock2D\", \"AttnUpBlock2D\", \"CrossAttnUpBlock2D\", "
      "\"UpBlock2D\"]}",
      DDIM_ERROR_UNSUPPORTED, "up_block_types");
  expect_refusal("{\"mid_block_type\": \"UNetMidBlock2DCrossAttn\"}", DDIM_ERROR_UNSUPPORTED,
                 "mid_block_type");
  expect_refusal("{\"downsample_type\": \"resnet\"}", DDIM_ERROR_UNSUPPORTED, "downsample_type");
  expect_refusal("{\"upsample_type\": \"resnet\"}", DDIM_ERROR_UNSUPPORTED, "upsample_type");
  expect_refusal("{\"resnet_time_scale_shift\": \"ada_group\"}", DDIM_ERROR_UNSUPPORTED,
                 "resnet_time_scale_shift");
  expect_refusal("{\"act_fn\": \"tanh\"}", DDIM_ERROR_UNSUPPORTED, "act_fn");
  expect_refusal("{\"block_out_channels\": [1000000000, 448, 672, 896]}", DDIM_ERROR_UNSUPPORTED,
                 "block_out_channels");
  expect_refusal("{\"block_out_channels\": [0, 448, 672, 896]}", DDIM_ERROR_UNSUPPORTED,
                 "block_out_channels");
  expect_refusal("{\"layers_per_block\": 1000}", DDIM_ERROR_UNSUPPORTED, "layers_per_block");
  expect_refusal("{\"layers_per_block\": 0}", DDIM_ERROR_UNSUPPORTED, "layers_per_block");
  expect_refusal("{\"in_channels\": -3}", DDIM_ERROR_UNSUPPORTED, "in_channels");
  expect_refusal("{\"out_channels\": 0}", DDIM_ERROR_UNSUPPORTED, "out_channels");
  expect_refusal("{\"norm_num_groups\": 0}", DDIM_ERROR_UNSUPPORTED, "norm_num_groups");
  expect_refusal("{\"norm_eps\": 0}", DDIM_ERROR_UNSUPPORTED, "norm_eps");
  expect_refusal("{\"downsample_padding\": 2}", DDIM_ERROR_UNSUPPORTED, "downsample_padding");
  expect_refusal("{\"sample_size\": 100000}", DDIM_ERROR_UNSUPPORTED, "sample_size");
  expect_refusal("{\"sample_size\": 8192}", DDIM_ERROR_UNSUPPORTED, "sample_size");
  expect_refusal("{\"sample_size\": [64, 4097]}", DDIM_ERROR_UNSUPPORTED, "sample_size");
  /* Lists of different lengths are a malformed config. */
  expect_refusal("{\"block_out_channels\": [32, 64, 128]}", DDIM_ERROR_FORMAT,
                 "block_out_channels");
  expect_refusal("{\"block_out_channels\": [32, 64], \"down_block_types\": [\"DownBlock2D\", "
                 "\"DownBlock2D\"], \"up_block_types\": [\"UpBlock2D\"]}",
                 DDIM_ERROR_FORMAT, "up_block_types");
  expect_refusal("{\"block_out_channels\": [32, 64, 64, 64, 64, 64, 64, 64, 64]}",
                 DDIM_ERROR_UNSUPPORTED, "block_out_channels");
  /* 8-channel heads do not split 100 channels of an attention block... */
  expect_refusal("{\"block_out_channels\": [32, 100], \"down_block_types\": [\"DownBlock2D\", "
                 "\"AttnDownBlock2D\"], \"up_block_types\": [\"AttnUpBlock2D\", \"UpBlock2D\"]}",
                 DDIM_ERROR_UNSUPPORTED, "attention_head_dim");
  /* ...nor, with only plain blocks, the mid block's 100 channels. */
  expect_refusal("{\"block_out_channels\": [32, 100], \"down_block_types\": [\"DownBlock2D\", "
                 "\"DownBlock2D\"], \"up_block_types\": [\"UpBlock2D\", \"UpBlock2D\"], "
                 "\"attention_head_dim\": 16}",
                 DDIM_ERROR_UNSUPPORTED, "attention_head_dim");
  /* Only the up block at 100 channels has attention (up_blocks.0 is the
   * lowest resolution, i.e. the last block_out_channels entry). */
  expect_refusal("{\"block_out_channels\": [32, 100], \"down_block_types\": [\"DownBlock2D\", "
                 "\"DownBlock2D\"], \"up_block_types\": [\"AttnUpBlock2D\", \"UpBlock2D\"], "
                 "\"add_attention\": false}",
                 DDIM_ERROR_UNSUPPORTED, "attention_head_dim");
  expect_refusal("{\"_class_name\": \"UNet2DConditionModel\"}", DDIM_ERROR_UNSUPPORTED,
                 "_class_name");
  /* Not JSON, not an object, not text. */
  expect_refusal("{\"in_channels\": 3,", DDIM_ERROR_FORMAT, NULL);
  expect_refusal("this is not json", DDIM_ERROR_FORMAT, NULL);
  expect_refusal("[1, 2, 3]", DDIM_ERROR_FORMAT, NULL);
  expect_refusal("", DDIM_ERROR_FORMAT, NULL);
  /* Wrong types. */
  expect_refusal("{\"in_channels\": \"3\"}", DDIM_ERROR_FORMAT, "in_channels");
  expect_refusal("{\"layers_per_block\": 2.5}", DDIM_ERROR_FORMAT, "layers_per_block");
  expect_refusal("{\"flip_sin_to_cos\": 1}", DDIM_ERROR_FORMAT, "flip_sin_to_cos");
  expect_refusal("{\"norm_eps\": \"1e-6\"}", DDIM_ERROR_FORMAT, "norm_eps");
  expect_refusal("{\"block_out_channels\": 128}", DDIM_ERROR_FORMAT, "block_out_channels");
  expect_refusal("{\"block_out_channels\": [\"128\", 256, 256, 256]}", DDIM_ERROR_FORMAT,
                 "block_out_channels");
  expect_refusal("{\"down_block_types\": \"DownBlock2D\"}", DDIM_ERROR_FORMAT, "down_block_types");
  expect_refusal("{\"attention_head_dim\": \"8\"}", DDIM_ERROR_FORMAT, "attention_head_dim");
  expect_refusal("{\"act_fn\": 3}", DDIM_ERROR_FORMAT, "act_fn");
  /* Two values for one key: json-glib (and Python) keep the last one. */
  expect_refusal("{\"in_channels\": 1, \"in_channels\": 3}", DDIM_ERROR_FORMAT, "twice");
  expect_refusal("{\"a\": {\"b\": 1, \"b\": 2}}", DDIM_ERROR_FORMAT, "twice");
}

/* ---- The strict JSON layer (json-util.c), through config.json --------------- */

typedef struct {
  const char *text;
  const char *message; /* what the refusal must say, after "PATH: " */
} JsonCase;

/* `text` (length bytes, or NUL-terminated when < 0) is refused with an error
 * of `code` whose message starts with the file name and contains `message`. */
static void expect_json_refusal(const char *text, gssize length, int code, const char *message) {
  DdimUnetConfig c;
  g_autoptr(GError) error = NULL;
  if (ddim_unet_config_parse(text, length, PATH, &c, &error)) g_error("accepted: %s", text);
  g_assert_nonnull(error);
  if (error->domain != DDIM_ERROR || error->code != code)
    g_error("%s: code %d, expected %d (%s)", text, error->code, code, error->message);
  if (!g_str_has_prefix(error->message, PATH ": "))
    g_error("%s: \"%s\" does not start with the path", text, error->message);
  if (!strstr(error->message, message))
    g_error("%s: \"%s\" does not say \"%s\"", text, error->message, message);
  g_test_message("%s -> %s", text, error->message);
}

static void expect_json_cases(const JsonCase *cases, size_t count, int code) {
  for (size_t i = 0; i < count; i++) expect_json_refusal(cases[i].text, -1, code, cases[i].message);
}

/* What json-glib, JSON5 or Python accept and RFC 8259 (and the safetensors
 * crate) do not. */
static void test_json_not_strict(void) {
  static const JsonCase cases[] = {
      {"// comment\n{}", "not valid JSON: a comment"},
      {"{\"in_channels\": 3 /* three */}", "not valid JSON: a comment"},
      {"{'in_channels': 3}", "a single-quoted string"},
      {"{\"act_fn\": 'silu'}", "a single-quoted string"},
      {"{\"in_channels\": 0x3}", "a hexadecimal number"},
      {"{\"in_channels\": 0X3}", "a hexadecimal number"},
      {"{\"in_channels\": 03}", "a number with a leading zero"},
      {"{\"in_channels\": -03}", "a number with a leading zero"},
      {"{\"block_out_channels\": [32, 064]}", "a number with a leading zero"},
      {"{\"in_channels\": +3}", "a number with a '+' sign"},
      {"{\"norm_eps\": .5}", "without a digit before its decimal point"},
      {"{\"norm_eps\": 5.}", "without a digit after its decimal point"},
      {"{\"norm_eps\": 1e}", "without a digit in its exponent"},
      {"{\"norm_eps\": 1e+}", "without a digit in its exponent"},
      {"{\"norm_eps\": -}", "a '-' not followed by a digit"},
      {"{\"norm_eps\": NaN}", "NaN (JSON numbers are finite)"},
      {"{\"norm_eps\": Infinity}", "Infinity (JSON numbers are finite)"},
      {"{\"norm_eps\": -Infinity}", "-Infinity (JSON numbers are finite)"},
      {"\xEF\xBB\xBF{}", "a byte-order mark"},
      {"{\"in_channels\": 3,}", "a comma before '}'"},
      {"{\"block_out_channels\": [32, 64,]}", "a comma before ']'"},
      {"{\"block_out_channels\": [,]}", "',' where a value should be"},
      {"{,}", "',' where a key in double quotes should be"},
      {"{\"act_fn\": \"si\tlu\"}", "a control character (U+0009) in a string"},
      {"{\"act_fn\": \"si\nlu\"}", "a control character (U+000A) in a string"},
      {"{\"act_fn\": \"\\x41\"}", "an invalid escape '\\x'"},
      {"{\"act_fn\": \"\\'\"}", "an invalid escape '\\''"},
      {"{\"act_fn\": \"\\u12\"}", "without four hexadecimal digits"},
      {"{\"act_fn\": \"\\ud800\"}", "lone surrogate \\uD800"},
      {"{\"act_fn\": \"\\udc00x\"}", "lone surrogate \\uDC00"},
      {"{\"act_fn\": \"\\ud800\\u0041\"}", "lone surrogate \\uD800"},
      {"{in_channels: 3}", "the word 'in_channels' where a key in double quotes should be"},
      {"{\"center_input_sample\": True}", "the word 'True' where a value should be"},
      {"{\"attention_head_dim\": None}", "the word 'None'"},
      {"{\"center_input_sample\": truex}", "the word 'truex'"},
      {"{\"attention_head_dim\": nul}", "the word 'nul'"},
      {"{\"in_channels\" 3}", "'3' where ':' should be"},
      {"{\"in_channels\": 3 \"out_channels\": 3}", "'\"' where ',' or '}' should be"},
      {"{\"block_out_channels\": [32 64]}", "'6' where ',' or ']' should be"},
      {"{\"in_channels\": 3", "the text ends where ',' or '}' should be"},
      {"{\"act_fn\": \"silu", "a string that is not closed"},
      {"{\"a\":\xC2\xA0"
       "1}",
       "U+00A0 where a value should be"},
      {"{} {}", "text follows the JSON value"},
      {"{}x", "text follows the JSON value"},
      {"{}\f", "text follows the JSON value"},
      {"", "no value (the text is empty or blank)"},
      {" \t\r\n", "no value (the text is empty or blank)"},
      {"\"config\"", "the JSON is not an object"},
      {"[{}]", "the JSON is not an object"},
  };
  expect_json_cases(cases, G_N_ELEMENTS(cases), DDIM_ERROR_FORMAT);
  /* Bytes that are not text, anywhere in the file. */
  static const struct {
    const char *text;
    gssize length;
    const char *message;
  } binary[] = {
      {"{\"a\": 1}\0", 9, "not a text file: a NUL byte (line 1, column 9)"},
      {"{\"a\": \"\0\"}", 10, "not a text file: a NUL byte"},
      {"{\"a\": \"\xff\"}", 10, "not a text file: not UTF-8 (line 1, column 8)"},
      {"{\"a\": \"\xc0\xaf\"}", 11, "not UTF-8"},     /* overlong '/' */
      {"{\"a\": \"\xed\xa0\x80\"}", 12, "not UTF-8"}, /* a surrogate in UTF-8 */
      {"{\n\"a\":\n \"\xe2\x82\"}", 13, "not UTF-8 (line 3, column 3)"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(binary); i++)
    expect_json_refusal(binary[i].text, binary[i].length, DDIM_ERROR_FORMAT, binary[i].message);
}

/* A key twice in one object, at every depth, whatever the two values: json-glib
 * kept the last (and freed the first while parsing — the duplicate check read
 * the freed object); Python keeps the last too.  Refused everywhere. */
static void test_json_duplicate_keys(void) {
  static const char *const values[][2] = {
      {"1", "2"},
      {"1", "1"},
      {"{\"x\": 1}", "2"},
      {"{\"x\": 1}", "{\"y\": 2}"}, /* an object replaced by a later one */
      {"{\"x\": {\"z\": []}}", "{}"},
      {"[1, {\"x\": 1}]", "[2]"},
      {"\"a\"", "null"},
  };
  for (int depth = 1; depth <= 3; depth++)
    for (size_t v = 0; v < G_N_ELEMENTS(values); v++)
      for (int in_list = 0; in_list <= 1; in_list++) {
        if (depth == 1 && in_list) continue;
        /* depth 1: {"k": A, "k": B}; deeper: {"w": {"k": A, "k": B}} or
         * {"w": [{"k": A, "k": B}]}, with the duplicate after a good member. */
        g_autoptr(GString) text = g_string_new("");
        for (int d = 1; d < depth; d++)
          g_string_append(text, in_list ? "{\"in_channels\": 1, \"w\": [" : "{\"w\": ");
        g_string_append_printf(text, "{\"out_channels\": 1, \"k\": %s, \"k\": %s}", values[v][0],
                               values[v][1]);
        for (int d = 1; d < depth; d++) g_string_append(text, in_list ? "]}" : "}");
        expect_json_refusal(text->str, -1, DDIM_ERROR_FORMAT, "\"k\" appears twice in one object");
      }
  static const JsonCase cases[] = {
      /* The same key written two ways is the same key. */
      {"{\"in_channels\": 1, \"in_\\u0063hannels\": 3}", "\"in_channels\" appears twice"},
      {"{\"\\u00e9\": 1, \"\xc3\xa9\": 2}", "\"\xc3\xa9\" appears twice"},
      {"{\"\": 1, \"\": 2}", "\"\" appears twice"},
      /* Keys used by the reader, and after a member listed as default. */
      {"{\"_use_default_values\": [\"in_channels\"], \"in_channels\": 1, \"in_channels\": 2}",
       "\"in_channels\" appears twice"},
      {"{\"block_out_channels\": [32, 64], \"block_out_channels\": [32, 64]}",
       "\"block_out_channels\" appears twice"},
  };
  expect_json_cases(cases, G_N_ELEMENTS(cases), DDIM_ERROR_FORMAT);
  /* A long key is cut in the message. */
  g_autoptr(GString) long_key = g_string_new("{\"");
  for (int i = 0; i < 1000; i++) g_string_append_c(long_key, 'k');
  g_string_append(long_key, "\": 1, \"");
  for (int i = 0; i < 1000; i++) g_string_append_c(long_key, 'k');
  g_string_append(long_key, "\": 2}");
  expect_json_refusal(long_key->str, -1, DDIM_ERROR_FORMAT, "kkkk…\" appears twice");
}

/* \u0000 would end the C string json-glib hands out: "silu\u0000x" read as
 * "silu", two names that differ after the NUL as one. */
static void test_json_escaped_nul(void) {
  static const JsonCase cases[] = {
      {"{\"act_fn\": \"silu\\u0000x\"}", "\"act_fn\" holds an escaped NUL character (\\u0000)"},
      {"{\"act_fn\": \"\\u0000\"}", "\"act_fn\" holds an escaped NUL"},
      {"{\"_class_name\": \"UNet2DModel\\u0000\"}", "\"_class_name\" holds an escaped NUL"},
      {"{\"down_block_types\": [\"DownBlock2D\", \"DownBlock2D\\u0000x\"]}",
       "an entry of \"down_block_types\" holds an escaped NUL"},
      {"{\"in_channels\\u0000x\": 3}", "a key holds an escaped NUL character (\\u0000)"},
      {"{\"\\u0000\": 3}", "a key holds an escaped NUL"},
      {"{\"x\": {\"y\": [{\"\\u0000\": 1}]}}", "a key holds an escaped NUL"},
      {"{\"x\": {\"y\": [[\"a\\u0000\"]]}}", "an entry of \"y\" holds an escaped NUL"},
      {"{\"x\": {\"y\": \"\\u0000\"}}", "\"y\" holds an escaped NUL"},
  };
  expect_json_cases(cases, G_N_ELEMENTS(cases), DDIM_ERROR_FORMAT);
}

/* Integer literals outside int64 are refused as written (json-glib wrapped
 * them: -18446744073709551608 became 8, 18446744073709551615 became -1);
 * inside, the getters see the exact value; a double is no integer. */
static void test_json_integer_range(void) {
  static const JsonCase beyond[] = {
      {"{\"sample_size\": 9223372036854775808}",
       "\"sample_size\" is 9223372036854775808, outside the range of a 64-bit integer (line 1, "
       "column 17)"},
      {"{\"sample_size\": -9223372036854775809}",
       "\"sample_size\" is -9223372036854775809, outside the range"},
      {"{\"sample_size\": 18446744073709551615}", "is 18446744073709551615, outside the range"},
      {"{\"sample_size\": 18446744073709551616}", "is 18446744073709551616, outside the range"},
      {"{\"sample_size\": -18446744073709551608}", "is -18446744073709551608, outside the range"},
      {"{\"in_channels\": 99999999999999999999999999}",
       "\"in_channels\" is 99999999999999999999999999, outside"},
      {"{\"sample_size\": [8, 18446744073709551624]}",
       "an entry of \"sample_size\" is 18446744073709551624, outside the range"},
      {"{\"block_out_channels\": [32, -18446744073709551552]}",
       "an entry of \"block_out_channels\" is -18446744073709551552, outside"},
      {"{\"unknown\": {\"deep\": [[1, 100000000000000000000]]}}",
       "an entry of \"deep\" is 100000000000000000000, outside"},
      {"{\"norm_eps\": 1e400}", "\"norm_eps\" is 1e400, too large for a 64-bit float"},
      {"{\"norm_eps\": -1E+400}", "\"norm_eps\" is -1E+400, too large"},
      {"{\"in_channels\": 1e400}", "\"in_channels\" is 1e400, too large"},
  };
  expect_json_cases(beyond, G_N_ELEMENTS(beyond), DDIM_ERROR_FORMAT);
  /* A 300-digit literal is cut in the message. */
  g_autoptr(GString) digits = g_string_new("{\"in_channels\": ");
  for (int i = 0; i < 300; i++) g_string_append_c(digits, '9');
  g_string_append_c(digits, '}');
  expect_json_refusal(digits->str, -1, DDIM_ERROR_FORMAT, "99999…, outside the range");

  static const JsonCase unsupported[] = {
      {"{\"sample_size\": 9223372036854775807}",
       "\"sample_size\" is 9223372036854775807; supported values are 1 to"},
      {"{\"sample_size\": -9223372036854775808}", "\"sample_size\" is -9223372036854775808;"},
      {"{\"in_channels\": 4294967297}", "\"in_channels\" is 4294967297;"},
      {"{\"in_channels\": -4294967295}", "\"in_channels\" is -4294967295;"},
      {"{\"block_out_channels\": [32, 4294967360]}", "entry 4294967360 is out of the supported"},
  };
  expect_json_cases(unsupported, G_N_ELEMENTS(unsupported), DDIM_ERROR_UNSUPPORTED);

  static const JsonCase not_integers[] = {
      {"{\"in_channels\": -0}", "\"in_channels\" must be an integer, not -0.0"},
      {"{\"downsample_padding\": -0}", "\"downsample_padding\" must be an integer, not -0.0"},
      {"{\"in_channels\": 3.0}", "\"in_channels\" must be an integer, not 3.0"},
      {"{\"in_channels\": 3e0}", "must be an integer, not 3.0"},
      {"{\"sample_size\": 3.5}", "\"sample_size\" must be an integer, not 3.5"},
      {"{\"layers_per_block\": 1e300}", "must be an integer, not 1e+300"},
      {"{\"sample_size\": [32, -0]}", "\"sample_size\" must be a list of integers"},
      {"{\"block_out_channels\": [32.0, 64]}", "must be a list of integers"},
  };
  expect_json_cases(not_integers, G_N_ELEMENTS(not_integers), DDIM_ERROR_FORMAT);

  /* Accepted at the ends of each range. */
  DdimUnetConfig c;
  g_autoptr(GError) error = NULL;
  g_assert_true(parse("{\"in_channels\": 64, \"out_channels\": 1, \"freq_shift\": -0, "
                      "\"norm_eps\": 1e-300, \"unused\": [9223372036854775807, "
                      "-9223372036854775808, 1e308, -0.0]}",
                      &c, &error));
  g_assert_no_error(error);
  g_assert_cmpint(c.in_channels, ==, 64);
  g_assert_cmpint(c.out_channels, ==, 1);
}

/* What the layer builds from what it accepts: exact integers, doubles for
 * the rest, decoded strings. */
static void test_json_accepted_values(void) {
  static const char text[] =
      " [9223372036854775807, -9223372036854775808, 0, -0, 1.5e3, 1E-400, 12345678901234567890e0,"
      " \"\\ud83d\\ude00\\u00e9\\/\\\\\\\"\\b\\f\\n\\r\\t\", \"\xe2\x82\xac\", true, false, null,"
      " {\"a\": {}, \"b\": []}]\r\n";
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) root = ddim_json_parse(text, strlen(text), &error);
  g_assert_no_error(error);
  g_assert_true(JSON_NODE_HOLDS_ARRAY(root));
  JsonArray *array = json_node_get_array(root);
  g_assert_cmpuint(json_array_get_length(array), ==, 13);
  gint64 v;
  g_assert_true(ddim_json_node_int(json_array_get_element(array, 0), 0, G_MAXINT64, &v));
  g_assert_cmpint(v, ==, G_MAXINT64);
  g_assert_true(ddim_json_node_int(json_array_get_element(array, 1), G_MININT64, 0, &v));
  g_assert_cmpint(v, ==, G_MININT64);
  g_assert_false(ddim_json_node_int(json_array_get_element(array, 1), -1, 0, &v));
  g_assert_true(ddim_json_node_int(json_array_get_element(array, 2), 0, 0, &v));
  /* -0 is a double (as serde_json reads it), so no count. */
  g_assert_false(ddim_json_node_int(json_array_get_element(array, 3), G_MININT64, G_MAXINT64, &v));
  double d;
  g_assert_true(ddim_json_node_number(json_array_get_element(array, 3), &d));
  g_assert_true(d == 0.0 && signbit(d));
  g_assert_true(ddim_json_node_number(json_array_get_element(array, 4), &d));
  g_assert_cmpfloat(d, ==, 1500.0);
  g_assert_false(ddim_json_node_int(json_array_get_element(array, 4), G_MININT64, G_MAXINT64, &v));
  g_assert_true(ddim_json_node_number(json_array_get_element(array, 5), &d));
  g_assert_cmpfloat(d, ==, 0.0);
  g_assert_true(ddim_json_node_number(json_array_get_element(array, 6), &d));
  g_assert_cmpfloat(d, ==, 12345678901234567890.0);
  g_assert_cmpstr(json_array_get_string_element(array, 7), ==,
                  "\xf0\x9f\x98\x80\xc3\xa9/\\\"\b\f\n\r\t");
  g_assert_cmpstr(json_array_get_string_element(array, 8), ==, "\xe2\x82\xac");
  g_assert_true(json_array_get_boolean_element(array, 9));
  g_assert_false(json_array_get_boolean_element(array, 10));
  g_assert_true(json_array_get_null_element(array, 11));
  JsonObject *object = json_array_get_object_element(array, 12);
  g_assert_cmpuint(json_object_get_size(object), ==, 2);
  /* Read-only, as json_parser_new_immutable's trees were. */
  g_assert_true(json_node_is_immutable(root));

  /* Errors have no file name: the caller adds it. */
  g_autoptr(JsonNode) refused = ddim_json_parse("{\"a\": 1, \"a\": 2}", 16, &error);
  g_assert_null(refused);
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT);
  g_assert_cmpstr(error->message, ==, "\"a\" appears twice in one object (line 1, column 10)");
}

/* A parser that recurses per level: a deeply nested value used to overflow
 * the stack (found by hand, now in tests/malformed/config-deep). */
static void test_nesting_limit(void) {
  GString *deep = g_string_new("{\"a\": ");
  for (int i = 0; i < 100000; i++) g_string_append_c(deep, '[');
  for (int i = 0; i < 100000; i++) g_string_append_c(deep, ']');
  g_string_append_c(deep, '}');
  expect_refusal(deep->str, DDIM_ERROR_FORMAT, "nested");
  g_string_free(deep, TRUE);
  /* Up to the limit it parses (the unknown key is ignored). */
  GString *ok = g_string_new("{\"a\": ");
  for (int i = 1; i < DDIM_JSON_MAX_DEPTH; i++) g_string_append_c(ok, '[');
  for (int i = 1; i < DDIM_JSON_MAX_DEPTH; i++) g_string_append_c(ok, ']');
  g_string_append_c(ok, '}');
  DdimUnetConfig c;
  g_autoptr(GError) error = NULL;
  g_assert_true(parse(ok->str, &c, &error));
  g_assert_no_error(error);
  g_string_free(ok, TRUE);
}

/* A NUL inside the given length is not a text file. */
static void test_binary_text(void) {
  DdimUnetConfig c;
  g_autoptr(GError) error = NULL;
  const char text[] = "{\"in_channels\": 3}\0";
  g_assert_false(ddim_unet_config_parse(text, sizeof text, PATH, &c, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT);
  g_assert_nonnull(strstr(error->message, PATH));
}

static void test_load_missing_file(void) {
  DdimUnetConfig c;
  g_autoptr(GError) error = NULL;
  g_assert_false(ddim_unet_config_load("/nonexistent/dir/config.json", &c, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_IO);
  g_assert_nonnull(strstr(error->message, "/nonexistent/dir/config.json"));
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/unet-config/empty-object-is-defaults", test_empty_object_is_defaults);
  g_test_add_func("/unet-config/google-cifar10", test_google_cifar10);
  g_test_add_func("/unet-config/missing-head-dim-is-eight", test_missing_head_dim_is_eight);
  g_test_add_func("/unet-config/head-dim-checked-per-attention-block",
                  test_head_dim_checked_per_attention_block);
  g_test_add_func("/unet-config/use-default-values", test_use_default_values);
  g_test_add_func("/unet-config/scale-shift-attention-groups", test_scale_shift_attention_groups);
  g_test_add_func("/unet-config/sample-size-forms", test_sample_size_forms);
  g_test_add_func("/unet-config/other-fields", test_other_fields);
  g_test_add_func("/unet-config/refusals", test_refusals);
  g_test_add_func("/unet-config/json-not-strict", test_json_not_strict);
  g_test_add_func("/unet-config/json-duplicate-keys", test_json_duplicate_keys);
  g_test_add_func("/unet-config/json-escaped-nul", test_json_escaped_nul);
  g_test_add_func("/unet-config/json-integer-range", test_json_integer_range);
  g_test_add_func("/unet-config/json-accepted-values", test_json_accepted_values);
  g_test_add_func("/unet-config/nesting-limit", test_nesting_limit);
  g_test_add_func("/unet-config/binary-text", test_binary_text);
  g_test_add_func("/unet-config/load-missing-file", test_load_missing_file);
  g_test_add_func("/unet-config/freq-shift-divides", test_freq_shift_divides);
  return g_test_run();
}
