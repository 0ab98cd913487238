/* ddpm-original.c — how original DDPM keys become diffusers keys, and which
 * config describes them.
 *
 * The key mapping is that of diffusers'
 * scripts/convert_ddpm_original_checkpoint_to_diffusers.py: temb.dense.0/1 →
 * time_embedding.linear_1/2, block → resnets, temb_proj → time_emb_proj,
 * nin_shortcut → conv_shortcut, attention norm/q/k/v/proj_out →
 * group_norm/to_q/to_k/to_v/to_out.0 (squeezed), mid.block_1/attn_1/block_2 →
 * mid_block.resnets.0/attentions.0/resnets.1, up.L → up_blocks.{n−1−L},
 * norm_out → conv_norm_out.  Official configs: the .yml files of
 * ermongroup/ddim configs/ and google/ddpm-* config.json. */
#include "ddpm-original.h"

#include "ddim.h"
#include "unet-config.h"

#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#define ORIGINAL_GROUPS 32

gboolean ddim_ddpm_original_detect(const DdimSafetensors *table) {
  return ddim_safetensors_find(table, "temb.dense.0.weight") != NULL;
}

/* ---- Key mapping ---------------------------------------------------------- */

/* A decimal index at *text (no sign, no leading zero, below `limit`),
 * followed by '.'; advances past the dot. */
static gboolean take_index(const char **text, int limit, int *value) {
  const char *p = *text;
  if (!g_ascii_isdigit(*p) || (p[0] == '0' && g_ascii_isdigit(p[1]))) return FALSE;
  int v = 0;
  while (g_ascii_isdigit(*p)) {
    v = v * 10 + (*p++ - '0');
    if (v >= limit) return FALSE;
  }
  if (*p != '.') return FALSE;
  *value = v;
  *text = p + 1;
  return TRUE;
}

static gboolean take(const char **text, const char *prefix) {
  size_t length = strlen(prefix);
  if (strncmp(*text, prefix, length) != 0) return FALSE;
  *text += length;
  return TRUE;
}

/* "weight" or "bias" after a module name. */
static gboolean is_leaf(const char *text) {
  return strcmp(text, "weight") == 0 || strcmp(text, "bias") == 0;
}

/* The rest of a resnet key: module.leaf with renamed modules. */
static char *resnet_rest(const char *rest) {
  static const char *const map[][2] = {
      {"norm1.", "norm1."},
      {"conv1.", "conv1."},
      {"norm2.", "norm2."},
      {"conv2.", "conv2."},
      {"temb_proj.", "time_emb_proj."},
      {"nin_shortcut.", "conv_shortcut."},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(map); i++) {
    const char *p = rest;
    if (take(&p, map[i][0]) && is_leaf(p)) return g_strconcat(map[i][1], p, NULL);
  }
  return NULL;
}

static char *attention_rest(const char *rest, gboolean *is_projection) {
  static const char *const map[][2] = {
      {"norm.", "group_norm."},   {"q.", "to_q."}, {"k.", "to_k."}, {"v.", "to_v."},
      {"proj_out.", "to_out.0."},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(map); i++) {
    const char *p = rest;
    if (take(&p, map[i][0]) && is_leaf(p)) {
      *is_projection = i > 0 && strcmp(p, "weight") == 0;
      return g_strconcat(map[i][1], p, NULL);
    }
  }
  return NULL;
}

/* The diffusers name of an original key (NULL if it is not one);
 * *squeeze says whether it is a 1×1 attention weight. */
static char *diffusers_name(const char *name, int levels, gboolean *squeeze) {
  const char *p = name;
  int level, index;
  *squeeze = FALSE;
  g_autofree char *rest = NULL;
  if (take(&p, "temb.dense.0.") && is_leaf(p))
    return g_strconcat("time_embedding.linear_1.", p, NULL);
  p = name;
  if (take(&p, "temb.dense.1.") && is_leaf(p))
    return g_strconcat("time_embedding.linear_2.", p, NULL);
  p = name;
  if ((take(&p, "conv_in.") || take(&p, "conv_out.")) && is_leaf(p)) return g_strdup(name);
  p = name;
  if (take(&p, "norm_out.") && is_leaf(p)) return g_strconcat("conv_norm_out.", p, NULL);
  p = name;
  if (take(&p, "mid.block_1.") && (rest = resnet_rest(p)))
    return g_strconcat("mid_block.resnets.0.", rest, NULL);
  p = name;
  if (take(&p, "mid.block_2.") && (rest = resnet_rest(p)))
    return g_strconcat("mid_block.resnets.1.", rest, NULL);
  p = name;
  if (take(&p, "mid.attn_1.") && (rest = attention_rest(p, squeeze)))
    return g_strconcat("mid_block.attentions.0.", rest, NULL);

  p = name;
  gboolean down = take(&p, "down.");
  if (!down && !take(&p, "up.")) return NULL;
  if (!take_index(&p, levels, &level)) return NULL;
  const char *kind = down ? "down_blocks" : "up_blocks";
  int block = down ? level : levels - 1 - level;
  if (take(&p, "block.") && take_index(&p, DDIM_MAX_LAYERS_PER_BLOCK + 1, &index) &&
      (rest = resnet_rest(p)))
    return g_strdup_printf("%s.%d.resnets.%d.%s", kind, block, index, rest);
  if (take(&p, "attn.") && take_index(&p, DDIM_MAX_LAYERS_PER_BLOCK + 1, &index) &&
      (rest = attention_rest(p, squeeze)))
    return g_strdup_printf("%s.%d.attentions.%d.%s", kind, block, index, rest);
  const char *sampler = down ? "downsample." : "upsample.";
  if (take(&p, sampler) && (take(&p, "conv.") || (down && take(&p, "op."))) && is_leaf(p))
    return g_strdup_printf("%s.%d.%s.0.conv.%s", kind, block, down ? "downsamplers" : "upsamplers",
                           p);
  return NULL;
}

gboolean ddim_ddpm_original_to_diffusers(DdimSafetensors *table, GError **error) {
  /* The number of levels fixes how up.L is renumbered. */
  int levels = 0;
  for (int i = 0; i < table->n_tensors; i++) {
    const char *p = table->tensors[i].name;
    int level;
    if (take(&p, "down.") && take_index(&p, DDIM_MAX_BLOCKS, &level))
      levels = MAX(levels, level + 1);
  }
  if (levels == 0) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                "%s: original DDPM layout without down.0 (or with more than %d levels)",
                table->path, DDIM_MAX_BLOCKS);
    return FALSE;
  }
  for (int i = 0; i < table->n_tensors; i++) {
    DdimStTensor *tensor = &table->tensors[i];
    gboolean squeeze;
    char *name = diffusers_name(tensor->name, levels, &squeeze);
    if (!name) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                  "%s: tensor \"%s\" is not part of the original DDPM layout", table->path,
                  tensor->name);
      return FALSE;
    }
    if (squeeze && tensor->rank == 4 && tensor->shape[2] == 1 && tensor->shape[3] == 1)
      tensor->rank = 2;
    g_free(tensor->name);
    tensor->name = name;
  }
  return ddim_tensor_table_reindex(table, error);
}

/* ---- Configs -------------------------------------------------------------- */

typedef struct {
  int in_channels, out_channels, levels, layers;
  int channels[DDIM_MAX_BLOCKS];
  gboolean attention[DDIM_MAX_BLOCKS]; /* per level, full resolution first */
  gboolean mid_attention;
  int sample_size;
} Network;

typedef struct {
  const char *name, *title;
  int levels;
  int multipliers[DDIM_MAX_BLOCKS];
  int attention_level; /* 16×16 */
  int sample_size;
} Official;

/* ermongroup/ddim configs: ch 128, two residual blocks, attention at 16×16. */
static const Official officials[] = {
    {"cifar10", "DDPM CIFAR-10 32×32", 4, {1, 2, 2, 2}, 1, 32},
    {"celeba", "DDIM CelebA 64×64", 5, {1, 2, 2, 2, 4}, 2, 64},
    {"lsun", "DDPM LSUN / CelebA-HQ 256×256", 6, {1, 1, 2, 2, 4, 4}, 4, 256},
};

static const struct {
  const char *alias, *name;
} official_aliases[] = {
    {"bedroom", "lsun"}, {"church", "lsun"}, {"cat", "lsun"}, {"celebahq", "lsun"}};

const char *ddim_ddpm_official_names(void) {
  return "cifar10, celeba, lsun (or bedroom, church, cat, celebahq)";
}

static Network official_network(const Official *official) {
  Network network = {.in_channels = 3,
                     .out_channels = 3,
                     .levels = official->levels,
                     .layers = 2,
                     .mid_attention = TRUE,
                     .sample_size = official->sample_size};
  for (int i = 0; i < official->levels; i++) {
    network.channels[i] = 128 * official->multipliers[i];
    network.attention[i] = i == official->attention_level;
  }
  return network;
}

static char *config_json(const Network *network) {
  g_autoptr(JsonBuilder) builder = json_builder_new();
  json_builder_begin_object(builder);
  json_builder_set_member_name(builder, "_class_name");
  json_builder_add_string_value(builder, "UNet2DModel");
  json_builder_set_member_name(builder, "act_fn");
  json_builder_add_string_value(builder, "silu");
  json_builder_set_member_name(builder, "add_attention");
  json_builder_add_boolean_value(builder, network->mid_attention);
  json_builder_set_member_name(builder, "attention_head_dim");
  json_builder_add_null_value(builder);
  json_builder_set_member_name(builder, "block_out_channels");
  json_builder_begin_array(builder);
  for (int i = 0; i < network->levels; i++)
    json_builder_add_int_value(builder, network->channels[i]);
  json_builder_end_array(builder);
  json_builder_set_member_name(builder, "center_input_sample");
  json_builder_add_boolean_value(builder, FALSE);
  json_builder_set_member_name(builder, "down_block_types");
  json_builder_begin_array(builder);
  for (int i = 0; i < network->levels; i++)
    json_builder_add_string_value(builder,
                                  network->attention[i] ? "AttnDownBlock2D" : "DownBlock2D");
  json_builder_end_array(builder);
  json_builder_set_member_name(builder, "downsample_padding");
  json_builder_add_int_value(builder, 0);
  json_builder_set_member_name(builder, "flip_sin_to_cos");
  json_builder_add_boolean_value(builder, FALSE);
  json_builder_set_member_name(builder, "freq_shift");
  json_builder_add_int_value(builder, 1);
  json_builder_set_member_name(builder, "in_channels");
  json_builder_add_int_value(builder, network->in_channels);
  json_builder_set_member_name(builder, "layers_per_block");
  json_builder_add_int_value(builder, network->layers);
  json_builder_set_member_name(builder, "mid_block_scale_factor");
  json_builder_add_int_value(builder, 1);
  json_builder_set_member_name(builder, "norm_eps");
  json_builder_add_double_value(builder, 1e-6);
  json_builder_set_member_name(builder, "norm_num_groups");
  json_builder_add_int_value(builder, ORIGINAL_GROUPS);
  json_builder_set_member_name(builder, "out_channels");
  json_builder_add_int_value(builder, network->out_channels);
  json_builder_set_member_name(builder, "sample_size");
  json_builder_add_int_value(builder, network->sample_size);
  json_builder_set_member_name(builder, "time_embedding_type");
  json_builder_add_string_value(builder, "positional");
  json_builder_set_member_name(builder, "up_block_types");
  json_builder_begin_array(builder);
  /* up_blocks.i is level n−1−i. */
  for (int i = 0; i < network->levels; i++)
    json_builder_add_string_value(
        builder, network->attention[network->levels - 1 - i] ? "AttnUpBlock2D" : "UpBlock2D");
  json_builder_end_array(builder);
  json_builder_end_object(builder);
  g_autoptr(JsonGenerator) generator = json_generator_new();
  g_autoptr(JsonNode) root = json_builder_get_root(builder);
  json_generator_set_root(generator, root);
  json_generator_set_pretty(generator, TRUE);
  json_generator_set_indent(generator, 2);
  char *text = json_generator_to_data(generator, NULL);
  char *with_newline = g_strconcat(text, "\n", NULL);
  g_free(text);
  return with_newline;
}

char *ddim_ddpm_official_config(const char *name, char **description) {
  for (size_t i = 0; i < G_N_ELEMENTS(official_aliases); i++)
    if (strcmp(name, official_aliases[i].alias) == 0) name = official_aliases[i].name;
  for (size_t i = 0; i < G_N_ELEMENTS(officials); i++) {
    if (strcmp(name, officials[i].name) != 0) continue;
    Network network = official_network(&officials[i]);
    if (description) *description = g_strdup_printf("official %s config", officials[i].title);
    return config_json(&network);
  }
  return NULL;
}

static const DdimStTensor *find_shaped(const DdimSafetensors *table, const char *name, int rank) {
  const DdimStTensor *tensor = ddim_safetensors_find(table, name);
  return tensor && tensor->rank == rank ? tensor : NULL;
}

static gboolean has(const DdimSafetensors *table, const char *fmt, int a, int b) {
  char name[128];
  g_snprintf(name, sizeof name, fmt, a, b);
  return ddim_safetensors_find(table, name) != NULL;
}

static gboolean same_network(const Network *a, const Network *b) {
  if (a->in_channels != b->in_channels || a->out_channels != b->out_channels ||
      a->levels != b->levels || a->layers != b->layers || a->mid_attention != b->mid_attention)
    return FALSE;
  for (int i = 0; i < a->levels; i++)
    if (a->channels[i] != b->channels[i] || a->attention[i] != b->attention[i]) return FALSE;
  return TRUE;
}

char *ddim_ddpm_original_infer_config(const DdimSafetensors *table, char **description,
                                      GError **error) {
  Network network = {0};
  const DdimStTensor *conv_in = find_shaped(table, "conv_in.weight", 4);
  const DdimStTensor *conv_out = find_shaped(table, "conv_out.weight", 4);
  if (!conv_in || !conv_out) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                "%s: cannot infer the network: conv_in or conv_out is missing or not a 2-D "
                "convolution",
                table->path);
    return NULL;
  }
  network.in_channels = (int)MIN(conv_in->shape[1], G_MAXINT);
  network.out_channels = (int)MIN(conv_out->shape[0], G_MAXINT);
  while (network.levels < DDIM_MAX_BLOCKS &&
         has(table, "down_blocks.%d.resnets.%d.conv1.weight", network.levels, 0))
    network.levels++;
  while (network.layers < DDIM_MAX_LAYERS_PER_BLOCK &&
         has(table, "down_blocks.%d.resnets.%d.conv1.weight", 0, network.layers))
    network.layers++;
  if (network.levels == 0 || network.layers == 0) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                "%s: cannot infer the network: no down.0.block.0", table->path);
    return NULL;
  }
  for (int i = 0; i < network.levels; i++) {
    char name[128];
    g_snprintf(name, sizeof name, "down_blocks.%d.resnets.0.conv1.weight", i);
    const DdimStTensor *conv = find_shaped(table, name, 4);
    int64_t channels = conv ? conv->shape[0] : 0;
    if (channels < ORIGINAL_GROUPS || channels > DDIM_MAX_CHANNELS ||
        channels % ORIGINAL_GROUPS != 0) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                  "%s: level %d has %" G_GINT64_FORMAT " channels, which the original layout's "
                  "%d GroupNorm groups do not divide; give the network's config.json with "
                  "--config",
                  table->path, i, channels, ORIGINAL_GROUPS);
      return NULL;
    }
    network.channels[i] = (int)channels;
    network.attention[i] = has(table, "down_blocks.%d.attentions.%d.to_q.weight", i, 0);
  }
  network.mid_attention =
      ddim_safetensors_find(table, "mid_block.attentions.0.to_q.weight") != NULL;

  const Official *match = NULL;
  for (size_t i = 0; i < G_N_ELEMENTS(officials) && !match; i++) {
    Network official = official_network(&officials[i]);
    official.in_channels = network.in_channels;
    official.out_channels = network.out_channels;
    if (same_network(&network, &official)) match = &officials[i];
  }
  int attention_level = -1;
  for (int i = network.levels - 1; i >= 0; i--)
    if (network.attention[i]) attention_level = i;
  if (match) {
    network.sample_size = match->sample_size;
  } else if (attention_level >= 0 && attention_level < 10) {
    network.sample_size = 16 << attention_level;
  } else {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                "%s: cannot infer the native size of an original-layout network without "
                "attention; give its config.json with --config",
                table->path);
    return NULL;
  }
  if (description) {
    *description =
        match ? g_strdup_printf("official %s config, inferred from the tensor shapes", match->title)
              : g_strdup_printf("config inferred from the tensor shapes (%d×%d, "
                                "attention at 16×16)",
                                network.sample_size, network.sample_size);
  }
  return config_json(&network);
}
