/* unet.c — how the U-Net runs.
 *
 * The forward pass is diffusers' UNet2DModel (unet_2d.py, unet_2d_blocks.py,
 * resnet.py): conv_in; down blocks of ResnetBlock2D (+ attention) pushing
 * every output onto a skip stack; UNetMidBlock2D; up blocks that pop the
 * skips LIFO and concatenate [h, skip]; GroupNorm, SiLU, conv_out.
 *
 * Memory is planned once per input shape (ggml-style): an arena holds the
 * skip stack, two ping-pong activations, the concat buffer and the per-image
 * scratch of the kernels.  A forward pass allocates nothing.
 *
 * Small images in a batch (tiles of a large layer, --count runs) run as
 * chunks of the batch, one chunk per thread through the whole network with
 * single-threaded kernels: at 32×32 a layer is too little work to split over
 * threads (a barrier per layer costs more than it saves).  The chunks are a
 * function of the batch shape only, so results do not depend on --threads. */
#include "unet.h"
#include "parallel.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

typedef struct {
  int in_channels, out_channels;
  DdimGroupNorm norm1, norm2;
  DdimConv conv1, conv2, shortcut;
  gboolean has_shortcut;
  const float *temb_weight, *temb_bias;
  int temb_out; /* out_channels, or 2·out_channels for scale_shift */
  float output_scale_factor;
} Resnet;

typedef struct {
  int layers;
  int channels; /* output channels of the block */
  Resnet resnets[DDIM_MAX_LAYERS_PER_BLOCK + 1];
  gboolean has_attention;
  DdimAttention attentions[DDIM_MAX_LAYERS_PER_BLOCK + 1];
  gboolean has_sampler; /* downsampler or upsampler */
  DdimConv sampler;
} Block;

struct DdimUnet {
  DdimUnetConfig config;
  DdimConv conv_in, conv_out;
  const float *time_linear1_w, *time_linear1_b, *time_linear2_w, *time_linear2_b;
  int time_proj_dim; /* sinusoidal embedding width = block_out_channels[0] */
  int temb_dim;
  Block down[DDIM_MAX_BLOCKS];
  Block up[DDIM_MAX_BLOCKS];
  Resnet mid_resnets[2];
  DdimAttention mid_attention;
  DdimGroupNorm norm_out;
  uint64_t parameter_count;
  GPtrArray *owned; /* converted weights */

  /* The arenas for one input shape: one per thread that runs a chunk of
   * the batch (see chunk_images), each sized for one chunk. */
  DdimShape planned;
  DdimConvolutions planned_convolutions;
  float *arena;
  size_t arena_elements; /* per arena */
  int arenas;

  /* Asked before every resnet (with its attention), the mid block and the
   * output; TRUE abandons the forward pass.  Chunks of a batch ask it from
   * several threads at once. */
  DdimAbortFunc abort;
  gpointer abort_data;

  /* How 3×3 convolutions of large layers run (ddim_model_set_convolutions). */
  DdimConvolutions convolutions;
};

/* ---- Weight binding ---------------------------------------------------- */

typedef struct {
  DdimUnet *net;
  const DdimSafetensors *file;
  GHashTable *used;
  GError **error;
  gboolean failed;
} Binder;

static char *format_shape(int rank, const int64_t *shape) {
  GString *text = g_string_new("[");
  for (int i = 0; i < rank; i++)
    g_string_append_printf(text, "%s%" G_GINT64_FORMAT, i ? ", " : "", shape[i]);
  g_string_append_c(text, ']');
  return g_string_free(text, FALSE);
}

/* Look a tensor up under any of `names` (NULL-terminated aliases) and check
 * its shape; `squeeze_ok` accepts trailing 1×1 dims (attention weights stored
 * as 1×1 convolutions). */
static const float *bind_aliases(Binder *binder, const char *const *names, int rank,
                                 const int64_t *shape, gboolean squeeze_ok) {
  if (binder->failed) return NULL;
  const DdimStTensor *tensor = NULL;
  for (int i = 0; names[i] && !tensor; i++) tensor = ddim_safetensors_find(binder->file, names[i]);
  if (!tensor) {
    g_set_error(binder->error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                "%s: tensor \"%s\" is missing (the config needs it)", binder->file->path, names[0]);
    binder->failed = TRUE;
    return NULL;
  }
  gboolean shape_ok =
      tensor->rank == rank || (squeeze_ok && tensor->rank == rank + 2 && tensor->shape[rank] == 1 &&
                               tensor->shape[rank + 1] == 1);
  for (int i = 0; shape_ok && i < rank; i++) shape_ok = tensor->shape[i] == shape[i];
  if (!shape_ok) {
    g_autofree char *want = format_shape(rank, shape);
    g_autofree char *have = format_shape(tensor->rank, tensor->shape);
    g_set_error(binder->error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                "%s: tensor \"%s\" has shape %s, the config needs %s", binder->file->path,
                tensor->name, have, want);
    binder->failed = TRUE;
    return NULL;
  }
  if (tensor->dtype == DDIM_DTYPE_OTHER) {
    g_set_error(binder->error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                "%s: tensor \"%s\" has dtype %s; only F32, F16 and BF16 are supported",
                binder->file->path, tensor->name, tensor->dtype_name);
    binder->failed = TRUE;
    return NULL;
  }
  g_hash_table_add(binder->used, tensor->name);
  binder->net->parameter_count += tensor->elements;
  /* Aligned little-endian float32 is used in place from the mapping; the
   * rest is converted once. */
  if (tensor->dtype == DDIM_DTYPE_F32 && G_BYTE_ORDER == G_LITTLE_ENDIAN &&
      ((uintptr_t)tensor->data % sizeof(float)) == 0)
    return (const float *)(const void *)tensor->data;
  float *converted = g_try_new(float, tensor->elements ? tensor->elements : 1);
  if (!converted) {
    g_set_error(binder->error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY,
                "%s: out of memory converting tensor \"%s\"", binder->file->path, tensor->name);
    binder->failed = TRUE;
    return NULL;
  }
  ddim_st_tensor_to_f32(tensor, converted);
  ddim_st_release_tensor_pages(binder->file, tensor);
  g_ptr_array_add(binder->net->owned, converted);
  return converted;
}

static const float *bind(Binder *binder, const char *name, int rank, const int64_t *shape) {
  const char *names[] = {name, NULL};
  return bind_aliases(binder, names, rank, shape, FALSE);
}

static const float *bind_vector(Binder *binder, const char *prefix, const char *leaf, int length) {
  g_autofree char *name = g_strdup_printf("%s.%s", prefix, leaf);
  int64_t shape[1] = {length};
  return bind(binder, name, 1, shape);
}

static void bind_norm(Binder *binder, const char *prefix, int channels, int groups, double eps,
                      DdimGroupNorm *norm) {
  if (binder->failed) return;
  if (groups < 1 || channels % groups != 0) {
    g_set_error(binder->error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                "%s: GroupNorm %s: %d groups do not divide %d channels (\"norm_num_groups\")",
                binder->file->path, prefix, groups, channels);
    binder->failed = TRUE;
    return;
  }
  norm->channels = channels;
  norm->groups = groups;
  norm->eps = (float)eps;
  norm->gamma = bind_vector(binder, prefix, "weight", channels);
  norm->beta = bind_vector(binder, prefix, "bias", channels);
}

static void bind_conv(Binder *binder, const char *prefix, int in_channels, int out_channels,
                      int kernel, int stride, int pad, DdimConv *conv) {
  g_autofree char *weight = g_strdup_printf("%s.weight", prefix);
  int64_t shape[4] = {out_channels, in_channels, kernel, kernel};
  conv->in_channels = in_channels;
  conv->out_channels = out_channels;
  conv->kernel = kernel;
  conv->stride = stride;
  conv->pad_top = conv->pad_left = pad;
  conv->upsample2x = FALSE;
  conv->weight = bind(binder, weight, 4, shape);
  conv->bias = bind_vector(binder, prefix, "bias", out_channels);
}

static const float *bind_linear(Binder *binder, const char *prefix, int in_features,
                                int out_features, const float **bias) {
  g_autofree char *weight = g_strdup_printf("%s.weight", prefix);
  int64_t shape[2] = {out_features, in_features};
  const float *w = bind(binder, weight, 2, shape);
  *bias = bind_vector(binder, prefix, "bias", out_features);
  return w;
}

static void bind_resnet(Binder *binder, const char *prefix, int in_channels, int out_channels,
                        float output_scale_factor, Resnet *resnet) {
  const DdimUnetConfig *config = &binder->net->config;
  g_autofree char *norm1 = g_strdup_printf("%s.norm1", prefix);
  g_autofree char *conv1 = g_strdup_printf("%s.conv1", prefix);
  g_autofree char *norm2 = g_strdup_printf("%s.norm2", prefix);
  g_autofree char *conv2 = g_strdup_printf("%s.conv2", prefix);
  g_autofree char *temb = g_strdup_printf("%s.time_emb_proj", prefix);
  g_autofree char *shortcut = g_strdup_printf("%s.conv_shortcut", prefix);
  resnet->in_channels = in_channels;
  resnet->out_channels = out_channels;
  resnet->output_scale_factor = output_scale_factor;
  bind_norm(binder, norm1, in_channels, config->norm_num_groups, config->norm_eps, &resnet->norm1);
  bind_conv(binder, conv1, in_channels, out_channels, 3, 1, 1, &resnet->conv1);
  resnet->temb_out = config->scale_shift ? 2 * out_channels : out_channels;
  resnet->temb_weight =
      bind_linear(binder, temb, binder->net->temb_dim, resnet->temb_out, &resnet->temb_bias);
  bind_norm(binder, norm2, out_channels, config->norm_num_groups, config->norm_eps, &resnet->norm2);
  bind_conv(binder, conv2, out_channels, out_channels, 3, 1, 1, &resnet->conv2);
  resnet->has_shortcut = in_channels != out_channels;
  if (resnet->has_shortcut)
    bind_conv(binder, shortcut, in_channels, out_channels, 1, 1, 0, &resnet->shortcut);
}

/* diffusers Attention (to_q/to_k/to_v/to_out.0), or the older AttentionBlock
 * names (query/key/value/proj_attn), possibly stored as 1×1 convs. */
static const float *bind_attention_linear(Binder *binder, const char *prefix, const char *name,
                                          const char *old_name, int channels, const float **bias) {
  g_autofree char *w_new = g_strdup_printf("%s.%s.weight", prefix, name);
  g_autofree char *w_old = g_strdup_printf("%s.%s.weight", prefix, old_name);
  g_autofree char *b_new = g_strdup_printf("%s.%s.bias", prefix, name);
  g_autofree char *b_old = g_strdup_printf("%s.%s.bias", prefix, old_name);
  const char *weights[] = {w_new, w_old, NULL};
  const char *biases[] = {b_new, b_old, NULL};
  int64_t matrix[2] = {channels, channels}, vector[1] = {channels};
  const float *w = bind_aliases(binder, weights, 2, matrix, TRUE);
  *bias = bind_aliases(binder, biases, 1, vector, FALSE);
  return w;
}

static void bind_attention(Binder *binder, const char *prefix, int channels, int norm_groups,
                           float rescale, DdimAttention *attn) {
  const DdimUnetConfig *config = &binder->net->config;
  attn->channels = channels;
  attn->heads = ddim_unet_config_heads(config, channels);
  attn->rescale_output_factor = rescale;
  attn->has_norm = norm_groups > 0;
  if (attn->has_norm) {
    g_autofree char *norm = g_strdup_printf("%s.group_norm", prefix);
    bind_norm(binder, norm, channels, norm_groups, config->norm_eps, &attn->norm);
  }
  attn->wq = bind_attention_linear(binder, prefix, "to_q", "query", channels, &attn->bq);
  attn->wk = bind_attention_linear(binder, prefix, "to_k", "key", channels, &attn->bk);
  attn->wv = bind_attention_linear(binder, prefix, "to_v", "value", channels, &attn->bv);
  attn->wo = bind_attention_linear(binder, prefix, "to_out.0", "proj_attn", channels, &attn->bo);
}

static void bind_network(Binder *binder) {
  DdimUnet *net = binder->net;
  const DdimUnetConfig *config = &net->config;
  const int n = config->n_blocks, layers = config->layers_per_block;
  const int *out = config->block_out_channels;
  net->time_proj_dim = out[0];
  net->temb_dim = config->time_embedding_dim;

  bind_conv(binder, "conv_in", config->in_channels, out[0], 3, 1, 1, &net->conv_in);
  net->time_linear1_w = bind_linear(binder, "time_embedding.linear_1", net->time_proj_dim,
                                    net->temb_dim, &net->time_linear1_b);
  net->time_linear2_w = bind_linear(binder, "time_embedding.linear_2", net->temb_dim, net->temb_dim,
                                    &net->time_linear2_b);

  for (int i = 0; i < n; i++) {
    Block *block = &net->down[i];
    int in_channels = i == 0 ? out[0] : out[i - 1];
    block->layers = layers;
    block->channels = out[i];
    block->has_attention = config->down_attention[i];
    for (int j = 0; j < layers; j++) {
      g_autofree char *prefix = g_strdup_printf("down_blocks.%d.resnets.%d", i, j);
      bind_resnet(binder, prefix, j == 0 ? in_channels : out[i], out[i], 1.0f, &block->resnets[j]);
      if (block->has_attention) {
        g_autofree char *attn = g_strdup_printf("down_blocks.%d.attentions.%d", i, j);
        bind_attention(binder, attn, out[i], config->norm_num_groups, 1.0f, &block->attentions[j]);
      }
    }
    block->has_sampler = i < n - 1;
    if (block->has_sampler) {
      /* Downsample2D: padding 0 means F.pad(0,1,0,1) then a pad-0 stride-2
       * conv, i.e. the one extra row/column is at the bottom/right. */
      g_autofree char *prefix = g_strdup_printf("down_blocks.%d.downsamplers.0.conv", i);
      bind_conv(binder, prefix, out[i], out[i], 3, 2, config->downsample_padding, &block->sampler);
    }
  }

  if (config->has_mid_block) {
    const int channels = out[n - 1];
    const float scale = (float)config->mid_block_scale_factor;
    bind_resnet(binder, "mid_block.resnets.0", channels, channels, scale, &net->mid_resnets[0]);
    if (config->mid_attention)
      bind_attention(binder, "mid_block.attentions.0", channels, config->attn_norm_num_groups,
                     scale, &net->mid_attention);
    bind_resnet(binder, "mid_block.resnets.1", channels, channels, scale, &net->mid_resnets[1]);
  }

  for (int i = 0; i < n; i++) {
    /* diffusers numbering: up_blocks.0 is the lowest resolution. */
    Block *block = &net->up[i];
    const int level = n - 1 - i;
    const int block_out = out[level];
    const int prev = i == 0 ? out[n - 1] : out[level + 1];
    const int block_in = out[level > 0 ? level - 1 : 0];
    block->layers = layers + 1;
    block->channels = block_out;
    block->has_attention = config->up_attention[i];
    for (int j = 0; j <= layers; j++) {
      g_autofree char *prefix = g_strdup_printf("up_blocks.%d.resnets.%d", i, j);
      int skip = j == layers ? block_in : block_out;
      int in_channels = (j == 0 ? prev : block_out) + skip;
      bind_resnet(binder, prefix, in_channels, block_out, 1.0f, &block->resnets[j]);
      if (block->has_attention) {
        g_autofree char *attn = g_strdup_printf("up_blocks.%d.attentions.%d", i, j);
        bind_attention(binder, attn, block_out, config->norm_num_groups, 1.0f,
                       &block->attentions[j]);
      }
    }
    block->has_sampler = i < n - 1;
    if (block->has_sampler) {
      g_autofree char *prefix = g_strdup_printf("up_blocks.%d.upsamplers.0.conv", i);
      bind_conv(binder, prefix, block_out, block_out, 3, 1, 1, &block->sampler);
      block->sampler.upsample2x = TRUE;
    }
  }

  bind_norm(binder, "conv_norm_out", out[0], config->norm_num_groups, config->norm_eps,
            &net->norm_out);
  bind_conv(binder, "conv_out", out[0], config->out_channels, 3, 1, 1, &net->conv_out);
}

DdimUnet *ddim_unet_new(const DdimUnetConfig *config, const DdimSafetensors *weights,
                        GError **error) {
  DdimUnet *net = g_new0(DdimUnet, 1);
  net->config = *config;
  net->owned = g_ptr_array_new_with_free_func(g_free);
  Binder binder = {net, weights, g_hash_table_new(g_str_hash, g_str_equal), error, FALSE};
  bind_network(&binder);
  if (!binder.failed) {
    /* A tensor the config does not use means the file is for another
     * architecture (or needs a feature we do not run): refuse, never guess. */
    for (int i = 0; i < weights->n_tensors; i++) {
      if (!g_hash_table_contains(binder.used, weights->tensors[i].name)) {
        g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                    "%s: tensor \"%s\" is not part of the network that config.json describes",
                    weights->path, weights->tensors[i].name);
        binder.failed = TRUE;
        break;
      }
    }
  }
  g_hash_table_destroy(binder.used);
  if (binder.failed) {
    ddim_unet_free(net);
    return NULL;
  }
  return net;
}

void ddim_unet_free(DdimUnet *net) {
  if (!net) return;
  g_free(net->arena);
  g_ptr_array_unref(net->owned);
  g_free(net);
}

uint64_t ddim_unet_parameter_count(const DdimUnet *net) {
  return net->parameter_count;
}

uint64_t ddim_unet_weight_bytes(const DdimUnet *net) {
  return net->parameter_count * sizeof(float);
}

/* ---- Planning ------------------------------------------------------------ */

typedef struct {
  int batch;
  size_t max_activation; /* per image: largest tensor incl. concatenations */
  size_t skip_elements;  /* per image: the whole skip stack */
  size_t scratch;        /* T1 + T2 (batch × max_activation each) + kernel scratch */
  size_t kernel_scratch;
  double flops;      /* per image: multiply-adds × 2 of convolutions, linears, attention */
  int winograd_tile; /* 0: none, 2 or 4 */
} Plan;

static int winograd_tile(DdimConvolutions convolutions) {
  switch (convolutions) {
  case DDIM_CONVOLUTIONS_DIRECT:
    return 0;
  case DDIM_CONVOLUTIONS_FAST:
    return 4;
  case DDIM_CONVOLUTIONS_DEFAULT:
  default:
    return 2;
  }
}

/* Winograd where it beats the direct kernel (tools/bench/conv-bench, one
 * thread): 64×64 outputs and more with 32+ input channels, or 16×16 and more
 * with 128+ input channels in batches of 4 or more (a chunk of a batch of 8;
 * the products need both K and columns, and a single 32×32 image split over
 * threads lost more in barriers than it gained); everything smaller stays
 * direct.  A function of the shapes only, like the chunks. */
static gboolean use_winograd(const DdimConv *conv, int batch, int in_h, int in_w, int out_h,
                             int out_w) {
  const size_t pixels = (size_t)out_h * (size_t)out_w;
  const gboolean large = pixels >= 4096 && conv->in_channels >= 32;
  const gboolean wide = pixels >= 256 && conv->in_channels >= 128 && batch >= 4;
  return (large || wide) && ddim_conv_is_same_3x3(conv, in_h, in_w, out_h, out_w);
}

static size_t max_size(size_t a, size_t b) {
  return a > b ? a : b;
}

static void plan_conv(Plan *plan, const DdimConv *conv, int out_h, int out_w) {
  plan->flops += 2.0 * conv->out_channels * conv->in_channels * conv->kernel * conv->kernel *
                 (double)out_h * out_w;
  plan->kernel_scratch =
      max_size(plan->kernel_scratch, ddim_conv_scratch_elements(conv, out_h, out_w));
  plan->kernel_scratch = max_size(
      plan->kernel_scratch, ddim_conv_batched_scratch_elements(conv, plan->batch, out_h, out_w));
  plan->kernel_scratch = max_size(
      plan->kernel_scratch, ddim_conv_direct_scratch_elements(conv, plan->batch, out_h, out_w));
  /* (Sized for any input: a 3×3 stride-1 conv's input is out_h × out_w or
   * half of it, upsampled.) */
  if (plan->winograd_tile && conv->kernel == 3 && conv->stride == 1)
    plan->kernel_scratch = max_size(
        plan->kernel_scratch,
        ddim_conv_winograd_scratch_elements(conv, plan->winograd_tile, plan->batch, out_h, out_w));
}

static void plan_resnet(Plan *plan, const Resnet *resnet, int h, int w) {
  size_t pixels = (size_t)h * (size_t)w;
  plan->max_activation = max_size(plan->max_activation, (size_t)resnet->in_channels * pixels);
  plan->max_activation = max_size(plan->max_activation, (size_t)resnet->out_channels * pixels);
  plan_conv(plan, &resnet->conv1, h, w);
  plan_conv(plan, &resnet->conv2, h, w);
  if (resnet->has_shortcut) plan_conv(plan, &resnet->shortcut, h, w);
}

static void plan_attention(Plan *plan, const DdimAttention *attn, int h, int w) {
  const double pixels = (double)h * w, channels = attn->channels;
  /* q, k, v, out projections; scores Q_hᵀK_h and V_h·Sᵀ over all heads. */
  plan->flops += 4.0 * 2.0 * channels * channels * pixels + 2.0 * 2.0 * pixels * pixels * channels;
  plan->kernel_scratch =
      max_size(plan->kernel_scratch, ddim_attention_scratch_elements(attn, (size_t)h * (size_t)w));
}

static Plan make_plan(const DdimUnet *net, int batch, int h, int w) {
  Plan plan = {0};
  plan.batch = batch;
  plan.winograd_tile = winograd_tile(net->convolutions);
  const DdimUnetConfig *config = &net->config;
  const int n = config->n_blocks;
  size_t pixels = (size_t)h * (size_t)w;
  plan.max_activation =
      max_size((size_t)config->in_channels, (size_t)config->out_channels) * pixels;
  plan.max_activation = max_size(plan.max_activation, (size_t)net->conv_in.out_channels * pixels);
  plan_conv(&plan, &net->conv_in, h, w);
  plan_conv(&plan, &net->conv_out, h, w);
  plan.skip_elements = (size_t)net->conv_in.out_channels * pixels;
  for (int i = 0; i < n; i++) {
    int lh = h >> i, lw = w >> i;
    const Block *block = &net->down[i];
    for (int j = 0; j < block->layers; j++) {
      plan_resnet(&plan, &block->resnets[j], lh, lw);
      if (block->has_attention) plan_attention(&plan, &block->attentions[j], lh, lw);
      plan.skip_elements += (size_t)block->channels * (size_t)lh * (size_t)lw;
    }
    if (block->has_sampler) {
      plan_conv(&plan, &block->sampler, lh >> 1, lw >> 1);
      plan.skip_elements += (size_t)block->channels * (size_t)(lh >> 1) * (size_t)(lw >> 1);
    }
  }
  if (config->has_mid_block) {
    int lh = h >> (n - 1), lw = w >> (n - 1);
    plan_resnet(&plan, &net->mid_resnets[0], lh, lw);
    plan_resnet(&plan, &net->mid_resnets[1], lh, lw);
    if (config->mid_attention) plan_attention(&plan, &net->mid_attention, lh, lw);
  }
  for (int i = 0; i < n; i++) {
    int level = n - 1 - i, lh = h >> level, lw = w >> level;
    const Block *block = &net->up[i];
    for (int j = 0; j < block->layers; j++) {
      plan_resnet(&plan, &block->resnets[j], lh, lw);
      if (block->has_attention) plan_attention(&plan, &block->attentions[j], lh, lw);
    }
    if (block->has_sampler) {
      plan_conv(&plan, &block->sampler, lh * 2, lw * 2);
      plan.max_activation = max_size(plan.max_activation,
                                     (size_t)block->channels * (size_t)(lh * 2) * (size_t)(lw * 2));
    }
  }
  plan.scratch = 2 * (size_t)batch * plan.max_activation + plan.kernel_scratch;
  return plan;
}

/* Arena: skips (n·S) + P0, P1, CAT, T1, T2 (n·A each) + kernel scratch +
 * time embeddings. */
static size_t arena_elements(const DdimUnet *net, const Plan *plan, int batch) {
  size_t temb = (size_t)batch * ((size_t)net->time_proj_dim + 3 * (size_t)net->temb_dim +
                                 2 * (size_t)DDIM_MAX_CHANNELS);
  return (size_t)batch * (plan->skip_elements + 3 * plan->max_activation) + plan->scratch + temb;
}

/* Images per chunk when a batch runs chunk-parallel, or shape.n when it runs
 * as one batch with threaded kernels.  A function of the shape alone. */
#define CHUNK_MAX_PIXELS (64 * 64)
static int chunk_images(DdimShape shape) {
  if (shape.n < 2 || (size_t)shape.h * (size_t)shape.w > CHUNK_MAX_PIXELS) return shape.n;
  /* Chunks of 4 keep the batched GEMMs of the low levels wide; below 8
   * images single images balance the threads better. */
  return shape.n >= 8 ? 4 : 1;
}

static int chunk_count(DdimShape shape) {
  const int per_chunk = chunk_images(shape);
  return (shape.n + per_chunk - 1) / per_chunk;
}

/* Arenas needed: one per thread that can hold a chunk at once. */
static int arena_count(DdimShape shape) {
  int chunks = chunk_count(shape), threads = ddim_get_threads();
  if (chunks < 2) return 1;
  return threads < chunks ? (threads > 0 ? threads : 1) : chunks;
}

static size_t chunk_arena_elements(const DdimUnet *net, DdimShape shape) {
  const int per_chunk = chunk_images(shape);
  Plan plan = make_plan(net, per_chunk, shape.h, shape.w);
  return arena_elements(net, &plan, per_chunk);
}

double ddim_unet_flops(const DdimUnet *net, DdimShape shape) {
  Plan plan = make_plan(net, shape.n, shape.h, shape.w);
  return plan.flops * shape.n;
}

uint64_t ddim_unet_arena_bytes(const DdimUnet *net, DdimShape shape) {
  return (uint64_t)chunk_arena_elements(net, shape) * (uint64_t)arena_count(shape) * sizeof(float);
}

/* ---- Forward -------------------------------------------------------------- */

/* memcpy split over the pool for large planes. */
static void copy_floats(float *dst, const float *src, size_t count) {
  const size_t chunk = 16384;
  const size_t chunks = (count + chunk - 1) / chunk;
  DDIM_PARALLEL_FOR_IF(count >= DDIM_PARALLEL_MIN_WORK)
  for (size_t i = 0; i < chunks; i++) {
    size_t begin = i * chunk, length = count - begin < chunk ? count - begin : chunk;
    memcpy(dst + begin, src + begin, sizeof(float) * length);
  }
}

typedef struct {
  int batch;
  int winograd_tile;     /* 0: every convolution direct, else 2 or 4 */
  float *t1, *t2;        /* batch × max_activation each */
  float *kernel_scratch; /* im2col columns, batched GEMM products, attention */
  float *temb_proj;      /* batch × (2·max channels) */
  const float *temb_act; /* batch × temb_dim: act(emb), fed to every time_emb_proj */
} Work;

/* Convolution of every image of the batch: one GEMM for the whole batch at
 * small sizes, one per image otherwise. */
static void conv_forward(const DdimConv *conv, const float *x, int in_h, int in_w, float *y,
                         int out_h, int out_w, const Work *work) {
  if (work->winograd_tile && use_winograd(conv, work->batch, in_h, in_w, out_h, out_w)) {
    ddim_conv2d_winograd(conv, work->winograd_tile, x, work->batch, in_h, in_w, y, out_h, out_w,
                         work->kernel_scratch);
    return;
  }
  if (ddim_conv_direct_applies(conv, work->batch, in_h, in_w, out_h, out_w)) {
    ddim_conv2d_direct(conv, x, work->batch, in_h, in_w, y, out_h, out_w, work->kernel_scratch);
    return;
  }
  if (ddim_conv_use_batched(conv, work->batch, out_h, out_w)) {
    ddim_conv2d_batched(conv, x, work->batch, in_h, in_w, y, out_h, out_w, work->kernel_scratch);
    return;
  }
  const size_t in_plane = (size_t)conv->in_channels * (size_t)in_h * (size_t)in_w;
  const size_t out_plane = (size_t)conv->out_channels * (size_t)out_h * (size_t)out_w;
  for (int b = 0; b < work->batch; b++)
    ddim_conv2d(conv, x + (size_t)b * in_plane, in_h, in_w, y + (size_t)b * out_plane, out_h, out_w,
                work->kernel_scratch);
}

/* ResnetBlock2D, stage by stage over the batch so each convolution can be
 * one GEMM for all images. */
static void resnet_forward(const DdimUnet *net, const Resnet *resnet, const float *x, int h, int w,
                           float *out, const Work *work) {
  const DdimActivation act = net->config.act_fn;
  const size_t pixels = (size_t)h * (size_t)w;
  const size_t in_plane = (size_t)resnet->in_channels * pixels;
  const size_t out_plane = (size_t)resnet->out_channels * pixels;
  ddim_linear_rows(resnet->temb_weight, resnet->temb_bias, resnet->temb_out, net->temb_dim,
                   work->temb_act, work->batch, work->temb_proj);
  for (int b = 0; b < work->batch; b++)
    ddim_group_norm(&resnet->norm1, x + (size_t)b * in_plane, pixels, NULL, NULL, NULL, TRUE, act,
                    work->t1 + (size_t)b * in_plane);
  conv_forward(&resnet->conv1, work->t1, h, w, work->t2, h, w, work);
  for (int b = 0; b < work->batch; b++) {
    float *hb = work->t2 + (size_t)b * out_plane;
    const float *proj = work->temb_proj + (size_t)b * (size_t)resnet->temb_out;
    if (net->config.scale_shift) /* norm2(h)·(1 + scale) + shift */
      ddim_group_norm(&resnet->norm2, hb, pixels, NULL, proj, proj + resnet->out_channels, TRUE,
                      act, hb);
    else /* norm2(h + temb) */
      ddim_group_norm(&resnet->norm2, hb, pixels, proj, NULL, NULL, TRUE, act, hb);
  }
  conv_forward(&resnet->conv2, work->t2, h, w, work->t1, h, w, work);
  if (resnet->has_shortcut) conv_forward(&resnet->shortcut, x, h, w, out, h, w, work);
  const float inv_scale = 1.0f / resnet->output_scale_factor;
  const size_t total = (size_t)work->batch * out_plane;
  const float *residual = work->t1;
  /* out = (shortcut(x) + h) / output_scale_factor; without a shortcut x has
   * out_plane values per image too, and out may be x itself. */
  const float *base = resnet->has_shortcut ? out : x;
  DDIM_PARALLEL_FOR_IF(total >= DDIM_PARALLEL_MIN_WORK)
  for (size_t i = 0; i < total; i++) out[i] = (base[i] + residual[i]) * inv_scale;
}

static void attention_forward(const DdimAttention *attn, float *x, int h, int w, const Work *work) {
  const size_t pixels = (size_t)h * (size_t)w;
  for (int b = 0; b < work->batch; b++)
    ddim_attention(attn, x + (size_t)b * (size_t)attn->channels * pixels, pixels,
                   work->kernel_scratch);
}

/* Sinusoidal embedding as diffusers' get_timestep_embedding computes it in
 * float32: exponent = −ln(10000)·i / (half − freq_shift), [sin | cos], or
 * [cos | sin] when flip_sin_to_cos. */
static void timestep_embedding(const DdimUnet *net, const float *timesteps, int batch, float *out) {
  const int dim = net->time_proj_dim, half = dim / 2;
  const float log_period = (float)-log(10000.0);
  const float denominator = (float)((double)half - net->config.freq_shift);
  for (int b = 0; b < batch; b++) {
    float *row = out + (size_t)b * (size_t)dim;
    for (int i = 0; i < half; i++) {
      float exponent = ((float)i * log_period) / denominator;
      float arg = timesteps[b] * expf(exponent);
      float s = sinf(arg), c = cosf(arg);
      row[i] = net->config.flip_sin_to_cos ? c : s;
      row[half + i] = net->config.flip_sin_to_cos ? s : c;
    }
    if (dim % 2) row[dim - 1] = 0.0f;
  }
}

gboolean ddim_unet_has_plan(const DdimUnet *net, DdimShape shape) {
  return net->arena && net->planned_convolutions == net->convolutions &&
         net->planned.n == shape.n && net->planned.h == shape.h && net->planned.w == shape.w &&
         net->arenas == arena_count(shape);
}

static gboolean ensure_plan(DdimUnet *net, DdimShape shape, GError **error) {
  if (ddim_unet_has_plan(net, shape)) return TRUE;
  g_clear_pointer(&net->arena, g_free);
  const size_t elements = chunk_arena_elements(net, shape);
  const int arenas = arena_count(shape);
  if (elements > G_MAXSIZE / sizeof(float) / (size_t)arenas) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY,
                "a %d×%d×%d activation arena does not fit in the address space", shape.n, shape.h,
                shape.w);
    return FALSE;
  }
  net->arena = g_try_new(float, elements *(size_t)arenas);
  if (!net->arena) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY,
                "not enough memory for a %d×%d×%d activation arena (%.1f MB)", shape.n, shape.h,
                shape.w, (double)elements * (double)arenas * sizeof(float) / 1e6);
    return FALSE;
  }
  net->planned = shape;
  net->planned_convolutions = net->convolutions;
  net->arena_elements = elements;
  net->arenas = arenas;
  return TRUE;
}

void ddim_unet_set_convolutions(DdimUnet *net, DdimConvolutions convolutions) {
  net->convolutions = convolutions;
}

void ddim_unet_set_abort(DdimUnet *net, DdimAbortFunc abort, gpointer data) {
  net->abort = abort;
  net->abort_data = data;
}

/* Between resnet blocks only: a kernel is never interrupted, so the arena is
 * simply abandoned and the caller's buffers are untouched but for eps. */
static gboolean aborted(const DdimUnet *net) {
  return net->abort != NULL && net->abort(net->abort_data);
}

/* One batch (or chunk of a batch) through the network, in `arena`; FALSE
 * when the abort check stopped it. */
static gboolean forward_batch(const DdimUnet *net, float *arena, const float *x, DdimShape shape,
                              const float *timesteps, float *eps) {
  const DdimUnetConfig *config = &net->config;
  const int n = config->n_blocks, batch = shape.n, H = shape.h, W = shape.w;
  const Plan plan = make_plan(net, batch, H, W);
  const size_t max_activation = plan.max_activation;

  /* Carve the arena. */
  float *cursor = arena;
  float *skips = cursor;
  cursor += (size_t)batch * plan.skip_elements;
  float *ping = cursor;
  cursor += (size_t)batch * max_activation;
  float *pong = cursor;
  cursor += (size_t)batch * max_activation;
  float *concat = cursor;
  cursor += (size_t)batch * max_activation;
  Work work = {.batch = batch, .winograd_tile = winograd_tile(net->convolutions)};
  work.t1 = cursor;
  work.t2 = cursor + (size_t)batch * max_activation;
  work.kernel_scratch = cursor + 2 * (size_t)batch * max_activation;
  cursor += plan.scratch;
  float *temb_sin = cursor;
  cursor += (size_t)batch * (size_t)net->time_proj_dim;
  float *temb_hidden = cursor;
  cursor += (size_t)batch * (size_t)net->temb_dim;
  float *temb = cursor;
  cursor += (size_t)batch * (size_t)net->temb_dim;
  float *temb_act = cursor;
  cursor += (size_t)batch * (size_t)net->temb_dim;
  work.temb_proj = cursor;
  work.temb_act = temb_act;

  /* Time embedding: linear_1, SiLU, linear_2; resnets see act(emb). */
  timestep_embedding(net, timesteps, batch, temb_sin);
  ddim_linear_rows(net->time_linear1_w, net->time_linear1_b, net->temb_dim, net->time_proj_dim,
                   temb_sin, batch, temb_hidden);
  ddim_activation(DDIM_ACT_SILU, temb_hidden, (size_t)batch * (size_t)net->temb_dim);
  ddim_linear_rows(net->time_linear2_w, net->time_linear2_b, net->temb_dim, net->temb_dim,
                   temb_hidden, batch, temb);
  memcpy(temb_act, temb, sizeof(float) * (size_t)batch * (size_t)net->temb_dim);
  ddim_activation(config->act_fn, temb_act, (size_t)batch * (size_t)net->temb_dim);

  /* Input. */
  const float *input = x;
  if (config->center_input_sample) {
    size_t count = ddim_shape_elements(shape);
    for (size_t i = 0; i < count; i++) concat[i] = 2.0f * x[i] - 1.0f;
    input = concat;
  }

  /* Skip stack: entries are stored back to back; each knows its size. */
  float *skip_ptr[DDIM_MAX_BLOCKS * (DDIM_MAX_LAYERS_PER_BLOCK + 1) + 1];
  int skip_channels[G_N_ELEMENTS(skip_ptr)];
  int top = 0;
  float *skip_free = skips;

#define PUSH_SKIP(channels, lh, lw)                                                                \
  (skip_ptr[top] = skip_free, skip_channels[top] = (channels),                                     \
   skip_free += (size_t)batch * (size_t)(channels) * (size_t)(lh) * (size_t)(lw), skip_ptr[top++])

  float *h = PUSH_SKIP(net->conv_in.out_channels, H, W);
  conv_forward(&net->conv_in, input, H, W, h, H, W, &work);

  for (int i = 0; i < n; i++) {
    const Block *block = &net->down[i];
    int lh = H >> i, lw = W >> i;
    for (int j = 0; j < block->layers; j++) {
      if (aborted(net)) return FALSE;
      float *dst = PUSH_SKIP(block->channels, lh, lw);
      resnet_forward(net, &block->resnets[j], h, lh, lw, dst, &work);
      if (block->has_attention) attention_forward(&block->attentions[j], dst, lh, lw, &work);
      h = dst;
    }
    if (block->has_sampler) {
      float *dst = PUSH_SKIP(block->channels, lh >> 1, lw >> 1);
      conv_forward(&block->sampler, h, lh, lw, dst, lh >> 1, lw >> 1, &work);
      h = dst;
    }
  }

  int lh = H >> (n - 1), lw = W >> (n - 1);
  if (aborted(net)) return FALSE;
  if (config->has_mid_block) {
    resnet_forward(net, &net->mid_resnets[0], h, lh, lw, ping, &work);
    if (config->mid_attention) attention_forward(&net->mid_attention, ping, lh, lw, &work);
    resnet_forward(net, &net->mid_resnets[1], ping, lh, lw, pong, &work);
    h = pong;
  }

  int channels = config->block_out_channels[n - 1];
  for (int i = 0; i < n; i++) {
    const Block *block = &net->up[i];
    const size_t pixels = (size_t)lh * (size_t)lw;
    for (int j = 0; j < block->layers; j++) {
      if (aborted(net)) return FALSE;
      /* cat([h, skip], dim=1), per image. */
      top--;
      const int skip_c = skip_channels[top];
      const float *skip = skip_ptr[top];
      const size_t h_plane = (size_t)channels * pixels, s_plane = (size_t)skip_c * pixels;
      for (int b = 0; b < batch; b++) {
        float *dst = concat + (size_t)b * (h_plane + s_plane);
        copy_floats(dst, h + (size_t)b * h_plane, h_plane);
        copy_floats(dst + h_plane, skip + (size_t)b * s_plane, s_plane);
      }
      float *dst = h == ping ? pong : ping;
      resnet_forward(net, &block->resnets[j], concat, lh, lw, dst, &work);
      if (block->has_attention) attention_forward(&block->attentions[j], dst, lh, lw, &work);
      h = dst;
      channels = block->channels;
    }
    if (block->has_sampler) {
      float *dst = h == ping ? pong : ping;
      conv_forward(&block->sampler, h, lh, lw, dst, lh * 2, lw * 2, &work);
      h = dst;
      lh *= 2;
      lw *= 2;
    }
  }
#undef PUSH_SKIP

  /* conv_norm_out, SiLU, conv_out. */
  if (aborted(net)) return FALSE;
  const size_t pixels = (size_t)H * (size_t)W;
  const size_t in_plane = (size_t)channels * pixels;
  for (int b = 0; b < batch; b++)
    ddim_group_norm(&net->norm_out, h + (size_t)b * in_plane, pixels, NULL, NULL, NULL, TRUE,
                    DDIM_ACT_SILU, work.t1 + (size_t)b * in_plane);
  conv_forward(&net->conv_out, work.t1, H, W, eps, H, W, &work);
  return TRUE;
}

static gboolean set_cancelled(GError **error) {
  g_set_error(error, DDIM_ERROR, DDIM_ERROR_CANCELLED, "cancelled");
  return FALSE;
}

gboolean ddim_unet_forward(DdimUnet *net, const float *x, DdimShape shape, const float *timesteps,
                           float *eps, GError **error) {
  if (!ensure_plan(net, shape, error)) return FALSE;
  const int chunks = chunk_count(shape);
  if (chunks < 2)
    return forward_batch(net, net->arena, x, shape, timesteps, eps) || set_cancelled(error);
  const int per_chunk = chunk_images(shape);
  const size_t image_in = (size_t)shape.c * (size_t)shape.h * (size_t)shape.w;
  const size_t image_out = (size_t)net->config.out_channels * (size_t)shape.h * (size_t)shape.w;
  /* Each thread takes whole chunks and its own arena; the kernels inside
   * run single-threaded (nested regions are serial, and OpenBLAS's OpenMP
   * build runs single-threaded inside a parallel region).  After an abort
   * the remaining chunks are skipped. */
  int cancelled = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(net->arenas)
#endif
  {
    int thread = 0;
#ifdef _OPENMP
    thread = omp_get_thread_num();
#endif
    float *arena = net->arena + (size_t)thread * net->arena_elements;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
    for (int chunk = 0; chunk < chunks; chunk++) {
      int stop;
#ifdef _OPENMP
#pragma omp atomic read
#endif
      stop = cancelled;
      if (stop) continue;
      const int first = chunk * per_chunk;
      DdimShape part = shape;
      part.n = shape.n - first < per_chunk ? shape.n - first : per_chunk;
      if (!forward_batch(net, arena, x + (size_t)first * image_in, part, timesteps + first,
                         eps + (size_t)first * image_out)) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
        cancelled = 1;
      }
    }
  }
  return !cancelled || set_cancelled(error);
}
