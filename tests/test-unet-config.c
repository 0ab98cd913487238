/* test-unet-config.c — config.json with diffusers' UNet2DModel semantics.
 *
 * Expected values are diffusers' UNet2DModel.__init__ defaults and the
 * google/ddpm-cifar10-32 config, as listed in
 * shared/reference/diffusers-unet-ddim-safetensors.md §1.1, §1.9 and §2.1. */
#include "ddim.h"
#include "json-util.h"
#include "unet-config.h"

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

/* json-glib parses recursively: a deeply nested value used to overflow the
 * stack (found by hand, now in tests/malformed/config-deep). */
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
  g_test_add_func("/unet-config/nesting-limit", test_nesting_limit);
  g_test_add_func("/unet-config/binary-text", test_binary_text);
  g_test_add_func("/unet-config/load-missing-file", test_load_missing_file);
  return g_test_run();
}
