/* unet-config.c — how a UNet2DModel config.json is read.
 *
 * diffusers semantics (configuration_utils.py): a missing key takes the
 * UNet2DModel.__init__ default, keys in _use_default_values are ignored, and
 * "attention_head_dim": null means one head.  Anything we cannot run exactly
 * is refused with the field's name — never silently approximated. */
#include "ddim.h"
#include "json-util.h"
#include "unet-config.h"

#include <string.h>

static gboolean unsupported(GError **error, const char *path, const char *key, const char *value,
                            const char *supported) {
  g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
              "%s: \"%s\": \"%s\" is not supported (supported: %s)", path, key, value, supported);
  return FALSE;
}

/* A string member that must be one of `allowed` (NULL-terminated); absent → default. */
static gboolean get_choice(JsonObject *object, const char *key, const char *path,
                           const char *const *allowed, const char *supported, int *index,
                           gboolean *is_null, GError **error) {
  const char *value = NULL;
  if (!ddim_json_get_string(object, key, path, &value, is_null, error)) return FALSE;
  if (!value) return TRUE;
  for (int i = 0; allowed[i]; i++)
    if (strcmp(value, allowed[i]) == 0) {
      *index = i;
      return TRUE;
    }
  return unsupported(error, path, key, value, supported);
}

/* A list member whose items all have `item_type`, with 1..DDIM_MAX_BLOCKS
 * entries; *array stays NULL when the key is absent (defaults apply). */
static gboolean get_list(JsonObject *object, const char *key, const char *path, GType item_type,
                         const char *what, JsonArray **array, GError **error) {
  *array = NULL;
  JsonNode *node = ddim_json_uses_default(object, key) ? NULL : json_object_get_member(object, key);
  if (!node) return TRUE;
  gboolean ok = JSON_NODE_HOLDS_ARRAY(node);
  JsonArray *list = ok ? json_node_get_array(node) : NULL;
  for (guint i = 0; ok && i < json_array_get_length(list); i++) {
    JsonNode *item = json_array_get_element(list, i);
    ok = JSON_NODE_TYPE(item) == JSON_NODE_VALUE && json_node_get_value_type(item) == item_type;
  }
  if (!ok) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: \"%s\" must be a list of %s", path, key,
                what);
    return FALSE;
  }
  guint length = json_array_get_length(list);
  if (length < 1 || length > DDIM_MAX_BLOCKS) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                "%s: \"%s\" has %u entries; 1 to %d are supported", path, key, length,
                DDIM_MAX_BLOCKS);
    return FALSE;
  }
  *array = list;
  return TRUE;
}

static gboolean get_block_types(JsonObject *object, const char *key, const char *path,
                                const char *plain, const char *attention, gboolean *flags,
                                int *count, GError **error) {
  JsonArray *array = NULL;
  if (!get_list(object, key, path, G_TYPE_STRING, "block names", &array, error)) return FALSE;
  if (!array) return TRUE; /* keep the defaults */
  guint length = json_array_get_length(array);
  for (guint i = 0; i < length; i++) {
    const char *name = json_array_get_string_element(array, i);
    if (strcmp(name, plain) == 0)
      flags[i] = FALSE;
    else if (strcmp(name, attention) == 0)
      flags[i] = TRUE;
    else {
      g_autofree char *supported = g_strdup_printf("%s, %s", plain, attention);
      return unsupported(error, path, key, name, supported);
    }
  }
  *count = (int)length;
  return TRUE;
}

static gboolean get_int_list(JsonObject *object, const char *key, const char *path, int min,
                             int max, int *values, int *count, GError **error) {
  JsonArray *array = NULL;
  if (!get_list(object, key, path, G_TYPE_INT64, "integers", &array, error)) return FALSE;
  if (!array) return TRUE;
  guint length = json_array_get_length(array);
  for (guint i = 0; i < length; i++) {
    gint64 v = 0;
    ddim_json_node_int(json_array_get_element(array, i), G_MININT64, G_MAXINT64, &v);
    if (v < min || v > max) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                  "%s: \"%s\" entry %" G_GINT64_FORMAT " is out of the supported range %d to %d",
                  path, key, v, min, max);
      return FALSE;
    }
    values[i] = (int)v;
  }
  *count = (int)length;
  return TRUE;
}

static gboolean get_sample_size(JsonObject *object, const char *path, DdimUnetConfig *config,
                                GError **error) {
  JsonNode *node = ddim_json_uses_default(object, "sample_size")
                       ? NULL
                       : json_object_get_member(object, "sample_size");
  if (!node || JSON_NODE_HOLDS_NULL(node)) return TRUE; /* unknown native size */
  if (JSON_NODE_HOLDS_ARRAY(node)) {
    int values[DDIM_MAX_BLOCKS], count = 0;
    if (!get_int_list(object, "sample_size", path, 1, DDIM_MAX_SAMPLE_SIZE, values, &count, error))
      return FALSE;
    if (count != 2) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                  "%s: \"sample_size\" must be an integer or [height, width]", path);
      return FALSE;
    }
    config->sample_height = values[0];
    config->sample_width = values[1];
    return TRUE;
  }
  int side = 0;
  if (!ddim_json_get_int(object, "sample_size", path, 1, DDIM_MAX_SAMPLE_SIZE, &side, error))
    return FALSE;
  config->sample_height = config->sample_width = side;
  return TRUE;
}

static void set_defaults(DdimUnetConfig *config) {
  static const int default_channels[] = {224, 448, 672, 896};
  memset(config, 0, sizeof *config);
  config->in_channels = 3;
  config->out_channels = 3;
  config->flip_sin_to_cos = TRUE;
  config->freq_shift = 0.0;
  config->n_blocks = 4;
  for (int i = 0; i < 4; i++) {
    config->block_out_channels[i] = default_channels[i];
    config->down_attention[i] = i > 0; /* Down, AttnDown, AttnDown, AttnDown */
    config->up_attention[i] = i < 3;   /* AttnUp, AttnUp, AttnUp, Up */
  }
  config->layers_per_block = 2;
  config->mid_block_scale_factor = 1.0;
  config->downsample_padding = 1;
  config->act_fn = DDIM_ACT_SILU;
  config->attention_head_dim = 8;
  config->norm_num_groups = 32;
  config->attn_norm_num_groups = -1; /* resolved below */
  config->norm_eps = 1e-5;
  config->has_mid_block = TRUE;
  config->mid_attention = TRUE;
}

gboolean ddim_unet_config_parse(const char *text, gssize length, const char *path,
                                DdimUnetConfig *config, GError **error) {
  JsonObject *object = NULL;
  g_autoptr(JsonNode) root = ddim_json_parse_object(text, length, path, &object, error);
  if (!root) return FALSE;
  set_defaults(config);

  const char *class_name = NULL;
  if (!ddim_json_get_string(object, "_class_name", path, &class_name, NULL, error)) return FALSE;
  if (class_name && strcmp(class_name, "UNet2DModel") != 0)
    return unsupported(error, path, "_class_name", class_name, "UNet2DModel");

  static const char *const positional[] = {"positional", NULL};
  static const char *const conv_only[] = {"conv", NULL};
  static const char *const mid_types[] = {"UNetMidBlock2D", NULL};
  static const char *const shift_types[] = {"default", "scale_shift", NULL};
  static const char *const activations[] = {"silu", "swish", "mish", "gelu", "relu", NULL};
  int choice = 0;
  gboolean is_null = FALSE;
  if (!get_choice(object, "time_embedding_type", path, positional, "positional", &choice, NULL,
                  error) ||
      !get_choice(object, "downsample_type", path, conv_only, "conv", &choice, NULL, error) ||
      !get_choice(object, "upsample_type", path, conv_only, "conv", &choice, NULL, error))
    return FALSE;
  if (!get_choice(object, "mid_block_type", path, mid_types, "UNetMidBlock2D or null", &choice,
                  &is_null, error))
    return FALSE;
  config->has_mid_block = !is_null;
  choice = 0;
  if (!get_choice(object, "resnet_time_scale_shift", path, shift_types, "default, scale_shift",
                  &choice, NULL, error))
    return FALSE;
  config->scale_shift = choice == 1;
  choice = 0;
  if (!get_choice(object, "act_fn", path, activations, "silu, swish, mish, gelu, relu", &choice,
                  NULL, error))
    return FALSE;
  static const DdimActivation activation_kinds[] = {DDIM_ACT_SILU, DDIM_ACT_SILU, DDIM_ACT_MISH,
                                                    DDIM_ACT_GELU, DDIM_ACT_RELU};
  config->act_fn = activation_kinds[choice];

  if (ddim_json_has(object, "class_embed_type") || ddim_json_has(object, "num_class_embeds")) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                "%s: class-conditional models (\"class_embed_type\"/\"num_class_embeds\") are not "
                "supported",
                path);
    return FALSE;
  }

  if (!get_sample_size(object, path, config, error) ||
      !ddim_json_get_int(object, "in_channels", path, 1, 64, &config->in_channels, error) ||
      !ddim_json_get_int(object, "out_channels", path, 1, 64, &config->out_channels, error) ||
      !ddim_json_get_bool(object, "center_input_sample", path, &config->center_input_sample,
                          error) ||
      !ddim_json_get_bool(object, "flip_sin_to_cos", path, &config->flip_sin_to_cos, error) ||
      !ddim_json_get_double(object, "freq_shift", path, -1e6, 1e6, &config->freq_shift, error) ||
      !ddim_json_get_int(object, "layers_per_block", path, 1, DDIM_MAX_LAYERS_PER_BLOCK,
                         &config->layers_per_block, error) ||
      !ddim_json_get_double(object, "mid_block_scale_factor", path, 1e-6, 1e6,
                            &config->mid_block_scale_factor, error) ||
      !ddim_json_get_int(object, "downsample_padding", path, 0, 1, &config->downsample_padding,
                         error) ||
      !ddim_json_get_int(object, "norm_num_groups", path, 1, DDIM_MAX_CHANNELS,
                         &config->norm_num_groups, error) ||
      !ddim_json_get_double(object, "norm_eps", path, 0.0, 1.0, &config->norm_eps, error) ||
      !ddim_json_get_bool(object, "add_attention", path, &config->mid_attention, error))
    return FALSE;
  if (config->norm_eps <= 0.0) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED, "%s: \"norm_eps\" must be positive",
                path);
    return FALSE;
  }

  int channel_count = config->n_blocks;
  if (!get_int_list(object, "block_out_channels", path, 1, DDIM_MAX_CHANNELS,
                    config->block_out_channels, &channel_count, error))
    return FALSE;
  int down_count = config->n_blocks, up_count = config->n_blocks;
  if (!get_block_types(object, "down_block_types", path, "DownBlock2D", "AttnDownBlock2D",
                       config->down_attention, &down_count, error) ||
      !get_block_types(object, "up_block_types", path, "UpBlock2D", "AttnUpBlock2D",
                       config->up_attention, &up_count, error))
    return FALSE;
  if (channel_count != down_count || channel_count != up_count) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                "%s: \"block_out_channels\" (%d), \"down_block_types\" (%d) and \"up_block_types\" "
                "(%d) must have the same length",
                path, channel_count, down_count, up_count);
    return FALSE;
  }
  config->n_blocks = channel_count;

  /* attention_head_dim: absent → 8, null → one head (diffusers passes C). */
  if (ddim_json_is_null(object, "attention_head_dim"))
    config->attention_head_dim = 0;
  else if (!ddim_json_get_int(object, "attention_head_dim", path, 1, DDIM_MAX_CHANNELS,
                              &config->attention_head_dim, error))
    return FALSE;

  /* Mid-block attention groups: null → norm_num_groups for "default", and no
   * group norm at all for "scale_shift" (UNet2DModel passes attn_groups). */
  if (ddim_json_has(object, "attn_norm_num_groups")) {
    if (!ddim_json_get_int(object, "attn_norm_num_groups", path, 1, DDIM_MAX_CHANNELS,
                           &config->attn_norm_num_groups, error))
      return FALSE;
  } else {
    config->attn_norm_num_groups = config->scale_shift ? 0 : config->norm_num_groups;
  }

  config->time_embedding_dim = 4 * config->block_out_channels[0];
  if (ddim_json_has(object, "time_embedding_dim") &&
      !ddim_json_get_int(object, "time_embedding_dim", path, 1, 4 * DDIM_MAX_CHANNELS,
                         &config->time_embedding_dim, error))
    return FALSE;
  if (ddim_json_is_null(object, "time_embedding_dim"))
    config->time_embedding_dim = 4 * config->block_out_channels[0];

  /* The sinusoidal time embedding divides by half its width minus
   * freq_shift (diffusers get_timestep_embedding): at or below zero, every
   * embedding is NaN or infinite and so is every image. */
  const int half_width = config->block_out_channels[0] / 2;
  if (half_width >= 1 && !((double)half_width - config->freq_shift > 0.0)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                "%s: \"freq_shift\" %g is not below half the first block's %d channels (%d): the "
                "time embedding would divide by %g",
                path, config->freq_shift, config->block_out_channels[0], half_width,
                (double)half_width - config->freq_shift);
    return FALSE;
  }

  /* Attention heads must split the channels evenly. */
  for (int i = 0; i < config->n_blocks; i++) {
    gboolean attention =
        config->down_attention[i] || config->up_attention[config->n_blocks - 1 - i];
    int channels = config->block_out_channels[i];
    if (attention && config->attention_head_dim > 0 &&
        (config->attention_head_dim > channels || channels % config->attention_head_dim != 0)) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                  "%s: \"attention_head_dim\" %d does not divide the %d channels of block %d", path,
                  config->attention_head_dim, channels, i);
      return FALSE;
    }
  }
  int last = config->block_out_channels[config->n_blocks - 1];
  if (config->has_mid_block && config->mid_attention && config->attention_head_dim > 0 &&
      (config->attention_head_dim > last || last % config->attention_head_dim != 0)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                "%s: \"attention_head_dim\" %d does not divide the %d channels of the mid block",
                path, config->attention_head_dim, last);
    return FALSE;
  }
  return TRUE;
}

gboolean ddim_unet_config_load(const char *path, DdimUnetConfig *config, GError **error) {
  g_autofree char *text = NULL;
  gsize length = 0;
  if (!ddim_json_read_file(path, 16 * 1024 * 1024, &text, &length, error)) return FALSE;
  return ddim_unet_config_parse(text, (gssize)length, path, config, error);
}

int ddim_unet_config_heads(const DdimUnetConfig *config, int channels) {
  return config->attention_head_dim > 0 ? channels / config->attention_head_dim : 1;
}
