/* ddim.h — public API of the DDIM core library.
 *
 * The core runs a diffusers UNet2DModel (ε-prediction DDPM network) on the
 * CPU and implements the DDIM sampler of Song, Meng & Ermon (ICLR 2021):
 * sampling with η, deterministic inversion (encoding), reconstruction,
 * SDEdit-style variation and latent interpolation.
 *
 * Tensors are float32, C order, (N, C, H, W), in "model space" ([-1, 1] for
 * images).  Nothing here knows about GIMP; front ends convert pixels with
 * ddim-pixels.h.  Errors that reach the user are reported through GError in
 * the DDIM_ERROR domain, with messages that name the file and the problem.
 */
#ifndef DDIM_H
#define DDIM_H

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

G_BEGIN_DECLS

#define DDIM_ERROR (ddim_error_quark())
GQuark ddim_error_quark(void);

typedef enum {
  DDIM_ERROR_IO,               /* a file could not be opened, read or written */
  DDIM_ERROR_FORMAT,           /* a file is malformed */
  DDIM_ERROR_UNSUPPORTED,      /* well-formed, but a feature we do not run */
  DDIM_ERROR_INVALID_ARGUMENT, /* a caller's value is out of range */
  DDIM_ERROR_NO_MEMORY,        /* a run would need more memory than allowed */
  DDIM_ERROR_CANCELLED,        /* the progress callback asked to stop */
} DdimError;

/* A batch of images or latents: N images of C channels, H rows, W columns. */
typedef struct {
  int n, c, h, w;
} DdimShape;

size_t ddim_shape_elements(DdimShape shape);

/* ---- Model ------------------------------------------------------------ */

typedef struct DdimModel DdimModel;

typedef enum {
  DDIM_PREDICTION_EPSILON,
  DDIM_PREDICTION_SAMPLE,
  DDIM_PREDICTION_V,
} DdimPrediction;

typedef struct {
  /* Network (config.json). */
  int sample_height, sample_width; /* native resolution */
  int in_channels, out_channels;
  int size_multiple; /* H and W must be multiples of this (2^(levels-1)) */
  uint64_t parameter_count;
  uint64_t weight_bytes;     /* float32 weights held in memory */
  const char *weights_dtype; /* "F32", "F16", "BF16" or "mixed" as stored */
  /* Noise schedule (scheduler_config.json or the DDPM defaults). */
  int num_train_timesteps;
  const char *beta_schedule; /* "linear", "scaled_linear", "squaredcos_cap_v2", "trained" */
  double beta_start, beta_end;
  gboolean clip_sample; /* default for sampling when the caller does not say */
  double clip_sample_range;
  gboolean set_alpha_to_one; /* ᾱ after the last step: 1, or ᾱ_0 when FALSE */
  int steps_offset;
  DdimPrediction prediction_type;
  /* Where it came from. */
  const char *config_path;
  const char *weights_path;
  const char *scheduler_path; /* NULL when the defaults are used */
  const char *identity;       /* stable id of the weights (hex digest), for latents */
} DdimModelInfo;

/* Load a model: a UNet2DModel folder (config.json + diffusion_pytorch_model
 * .safetensors, scheduler_config.json beside it or in ../scheduler/), a
 * pipeline folder holding unet/ (and scheduler/), or the .safetensors file
 * itself with config.json beside it.  PyTorch checkpoints open too, through
 * a restricted unpickler that executes nothing: diffusers .bin files (also
 * sharded, with their .bin.index.json) and original DDPM/DDIM .ckpt/.pt
 * files, whose config is inferred from the tensor shapes when there is no
 * config.json (see ddim-convert.h).  Everything is validated first. */
DdimModel *ddim_model_load(const char *path, GError **error);
void ddim_model_free(DdimModel *model);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DdimModel, ddim_model_free)

const DdimModelInfo *ddim_model_get_info(const DdimModel *model);

/* Check that a shape can run on this model (channels, divisibility, limits). */
gboolean ddim_model_check_shape(const DdimModel *model, DdimShape shape, GError **error);

/* Bytes a forward pass of this shape needs: weights plus the activation arena
 * (UINT64_MAX for a shape outside ddim_model_check_shape's limits). */
uint64_t ddim_model_memory_needed(const DdimModel *model, DdimShape shape);

/* Floating-point operations of one network evaluation of this shape (for
 * run-time estimates and GFLOP/s figures). */
double ddim_model_flops(const DdimModel *model, DdimShape shape);

/* Upper bound on the bytes a run may use (0 = no limit beyond available RAM). */
void ddim_model_set_memory_limit(DdimModel *model, uint64_t max_bytes);

/* Before a run: refuse (DDIM_ERROR_NO_MEMORY, a message saying how much is
 * needed) a shape whose weights + activation arena exceed the memory limit,
 * or whose arena exceeds the available memory (MemAvailable).  The first
 * network evaluation of a new shape checks this too. */
gboolean ddim_model_check_memory(const DdimModel *model, DdimShape shape, GError **error);

/* One network evaluation: eps[n] = ε_θ(x[n], timesteps[n]).  The activation
 * memory is planned once per shape and reused; no allocation per call. */
gboolean ddim_model_eps(DdimModel *model, const float *x, DdimShape shape, const float *timesteps,
                        float *eps, GError **error);

/* A cheap, thread-safe question asked during an evaluation before each of the
 * U-Net's resnet blocks, its mid block and its output layers (a few dozen
 * times per ddim_model_eps; never inside a kernel, which stays untouched):
 * TRUE abandons the evaluation, which then fails with DDIM_ERROR_CANCELLED.
 * A front end that cancels from another thread sets an atomic flag and
 * answers from it here, so a long evaluation (seconds at 256×256) stops
 * within one block instead of one step. */
typedef gboolean (*DdimAbortFunc)(gpointer user_data);

/* Installs (or, with NULL, removes) the model's abort check; it applies to
 * every later evaluation, sampler runs included. */
void ddim_model_set_abort(DdimModel *model, DdimAbortFunc abort, gpointer user_data);

/* How the large 3×3 convolutions run — those with 64×64+ outputs and 32+
 * input channels, or 16×16+ outputs and 128+ input channels in batches of
 * 4+; the others are always computed directly.  Everything is float32. */
typedef enum {
  /* Winograd F(2×2, 3×3): 2.25× fewer multiplications, as accurate as the
   * direct sum (its transforms only add and halve). */
  DDIM_CONVOLUTIONS_DEFAULT = 0,
  /* Every convolution as the direct sum. */
  DDIM_CONVOLUTIONS_DIRECT,
  /* The fast mode: Winograd F(4×4, 3×3), 4× fewer multiplications; its
   * transforms scale by up to 8 and 1/24, which costs about two decimal
   * digits (docs/performance.md measures ε and reconstruction against the
   * default). */
  DDIM_CONVOLUTIONS_FAST,
} DdimConvolutions;

void ddim_model_set_convolutions(DdimModel *model, DdimConvolutions convolutions);
/* "default", "direct" or "fast"; FALSE for anything else. */
gboolean ddim_convolutions_from_name(const char *name, DdimConvolutions *convolutions);

/* ---- Threads ------------------------------------------------------------ */

/* Number of threads for OpenBLAS and the engine's own loops (0 = all cores). */
void ddim_set_threads(int threads);
int ddim_get_threads(void);

/* ---- Noise -------------------------------------------------------------- */

/* Streams of the counter-based noise source (Philox4x32-10 + Box–Muller).
 * Value i of image k depends only on (seed + k, stream, i), so it does not
 * depend on the thread count, tiling or batch layout. */
#define DDIM_STREAM_INITIAL ((uint64_t)0)       /* x_T */
#define DDIM_STREAM_FORWARD ((uint64_t)1 << 32) /* SDEdit noising */
#define DDIM_STREAM_STEP(t)                                                                        \
  (((uint64_t)2 << 32) | (uint64_t)(uint32_t)(t)) /* η noise leaving t                            \
                                                   */

/* Fill shape.n images; image k uses seed + k. */
void ddim_noise(uint64_t seed, uint64_t stream, DdimShape shape, float *out);

/* ---- Schedules ---------------------------------------------------------- */

typedef enum {
  DDIM_SCHEDULE_UNIFORM, /* t_i = i·(T//S) + steps_offset: official "uniform", diffusers "leading"
                          */
  DDIM_SCHEDULE_QUADRATIC, /* official "quad": int((i·√(0.8T)/(S-1))²) */
  DDIM_SCHEDULE_TRAILING,  /* diffusers "trailing": round(T - i·T/S) - 1 */
  DDIM_SCHEDULE_LINSPACE,  /* diffusers "linspace": round(i·(T-1)/(S-1)) */
} DdimSchedule;

const char *ddim_schedule_name(DdimSchedule schedule);
gboolean ddim_schedule_from_name(const char *name, DdimSchedule *schedule);

/* The timesteps a run of `steps` visits, ascending, without duplicates.
 * Returns the count (≤ steps) and stores them in *timesteps (g_free it). */
int ddim_model_timesteps(const DdimModel *model, DdimSchedule schedule, int steps, int **timesteps,
                         GError **error);

/* ---- Sampling ----------------------------------------------------------- */

typedef enum {
  DDIM_PHASE_DECODE, /* sampling: noise → image */
  DDIM_PHASE_ENCODE, /* inversion: image → noise */
} DdimPhase;

typedef struct {
  DdimPhase phase;
  int step;     /* network evaluations done in this phase, 1-based */
  int total;    /* network evaluations this phase will take */
  int timestep; /* timestep of this evaluation */
  DdimShape shape;
  const float *x_t;     /* the sample after this step */
  const float *x0_pred; /* the prediction of x_0 at this step (DDIM eq. 9), shape as x_t */
  /* Tiled runs (tiles_total > 0) also report after every batch of tiles
   * inside a step, with tiles_done < tiles_total: `step` is then the step in
   * progress, and x_t / x0_pred are still those of the previous step.  The
   * report that ends a step has tiles_done == tiles_total (0 when untiled). */
  int tiles_done, tiles_total;
} DdimProgress;

/* Called after every network evaluation, and in tiled runs after every batch
 * of tiles (on the thread that runs the sampler); return FALSE to cancel the
 * run: no further evaluation starts, and the caller's buffer keeps what it
 * held.  x_t and x0_pred are valid only during the call: copy what a preview
 * needs.  Decoding, x0_pred (x̂_0 = (x_t − √(1−ᾱ_t)·ε)/√ᾱ_t, clipped when the
 * run clips) is the image the run is heading for; encoding, x_t shows the
 * image rising toward noise. */
typedef gboolean (*DdimProgressFunc)(const DdimProgress *progress, gpointer user_data);

/* What the kept (mask 0) region follows while the masked region is generated. */
typedef enum {
  /* The known image noised forward, √ᾱ_t·x_0 + √(1 − ᾱ_t)·z, with one z
   * (stream DDIM_STREAM_FORWARD, seed + k) for every level: the default
   * (more faithful and no extra encode; the comparison: docs/tiling.md). */
  DDIM_MASK_KEEP_FORWARD,
  /* x_t of the known image's deterministic DDIM inversion at every level
   * (the image is encoded first, every level kept). */
  DDIM_MASK_KEEP_INVERSION,
} DdimMaskKeep;

const char *ddim_mask_keep_name(DdimMaskKeep keep);
gboolean ddim_mask_keep_from_name(const char *name, DdimMaskKeep *keep);

typedef struct {
  int steps;             /* S, number of DDIM steps (default 50) */
  double eta;            /* η: 0 = DDIM (deterministic), 1 = DDPM-like */
  DdimSchedule schedule; /* default uniform */
  int clip;              /* clip x̂_0 to ±clip_sample_range: -1 model default, 0 no, 1 yes */
  uint64_t seed;         /* image k of a batch uses seed + k */
  double strength;       /* fraction of the schedule to run (0,1]; 1 = the whole way */
  DdimProgressFunc progress;
  gpointer progress_data;

  /* Tiling (MultiDiffusion): images larger than a tile are covered by
   * overlapping tiles, ε is predicted for each tile and the overlaps are
   * blended with smooth weights at every step, for sampling and inversion
   * alike.  tile: the tile's side in pixels, or 0 = automatic (untiled when
   * the image fits in the model's resolution, tiles of the model's
   * resolution otherwise).  overlap: pixels neighbouring tiles share at
   * least, or -1 = a quarter of the tile.  Network memory is bounded by the
   * batch of tiles, not by the image. */
  int tile;
  int overlap;

  /* Masked editing (ddim_sample and ddim_vary; ignored by ddim_invert):
   * mask holds H × W values, 0 = keep the known image, 1 = regenerate,
   * shared by the images of the batch (feathered values blend).  At every
   * level the kept part follows the known image's own trajectory (mask_keep)
   * and only the masked part is generated, so pixels with mask 0 come out
   * equal to the known image exactly.  known: known_count (1 = shared by the
   * batch, or N) images of the run's C × H × W in model space; ddim_vary
   * uses its input when known is NULL.  The caller keeps mask and known
   * alive during the run. */
  const float *mask;
  const float *known;
  int known_count;
  DdimMaskKeep mask_keep;
} DdimParams;

void ddim_params_init(DdimParams *params);

/* Whether a run of this shape with these params is tiled; when it is,
 * *tile_w, *tile_h (may be NULL) receive the tile size and *tiles the
 * number of tiles per image. */
gboolean ddim_params_tiling(const DdimModel *model, const DdimParams *params, DdimShape shape,
                            int *tile_w, int *tile_h, int *tiles);

/* Check that a run of this shape can run with these params: the image
 * itself when untiled, its tiles when tiled (and the size limits). */
gboolean ddim_params_check_shape(const DdimModel *model, const DdimParams *params, DdimShape shape,
                                 GError **error);

/* Number of steps a run with these params takes (partial strength included). */
int ddim_params_step_count(const DdimModel *model, const DdimParams *params, GError **error);

/* The timestep of the level a partial run starts from (strength < 1), or the
 * top timestep of the schedule. */
int ddim_params_start_timestep(const DdimModel *model, const DdimParams *params, GError **error);

/* Decode: x holds x_t at the schedule's top level (or at the strength level),
 * and receives x_0.  DDIM eq. 12 with σ from eq. 16. */
gboolean ddim_sample(DdimModel *model, const DdimParams *params, float *x, DdimShape shape,
                     GError **error);

/* Encode (deterministic DDIM inversion): x holds x_0 and receives the latent
 * at the top level of the schedule (or at the strength level).  Convention:
 * ascending over the same timesteps as ddim_sample; each step evaluates ε at
 * the target timestep on the current sample (diffusers DDIMInverseScheduler,
 * null-text inversion), so encode(S) then decode(S) retraces the same levels. */
gboolean ddim_invert(DdimModel *model, const DdimParams *params, float *x, DdimShape shape,
                     GError **error);

/* The params an inversion runs with: the caller's, without clipping (which
 * would break invertibility; diffusers #6634) and with η = 0. */
DdimParams ddim_params_for_encode(const DdimParams *params);

/* The params for decoding a latent that ddim_invert made: no clipping unless
 * the caller asked for it explicitly (clip = 1), since clipping x̂_0 moves the
 * decode off the trajectory the inversion followed. */
DdimParams ddim_params_for_inverse_decode(const DdimParams *params);

/* Variation (SDEdit): noise x_0 forward to the strength level with seeded
 * Gaussian noise (eq. 4, stream DDIM_STREAM_FORWARD), then sample back with
 * η.  x holds x_0 and receives the variation. */
gboolean ddim_vary(DdimModel *model, const DdimParams *params, float *x, DdimShape shape,
                   GError **error);

/* Spherical interpolation of two latents (DDIM paper eq. 67), over n values. */
void ddim_slerp(const float *z0, const float *z1, size_t n, double alpha, float *out);

/* Mean squared error per dimension on the [0,1] pixel scale of two
 * model-space images, and the matching PSNR in dB (peak 1). */
double ddim_mse_01(const float *a, const float *b, size_t n);
double ddim_psnr_from_mse(double mse);

G_END_DECLS

#endif /* DDIM_H */
