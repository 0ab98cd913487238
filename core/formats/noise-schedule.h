/* noise-schedule.h — β_t and ᾱ_t from scheduler_config.json (diffusers
 * DDIMScheduler semantics), or the DDPM defaults (linear 1e-4..0.02, T=1000). */
#ifndef DDIM_NOISE_SCHEDULE_H
#define DDIM_NOISE_SCHEDULE_H

#include "ddim.h"

#define DDIM_MAX_TRAIN_TIMESTEPS 100000

typedef struct {
  int num_train_timesteps;
  char beta_schedule[32];
  double beta_start, beta_end;
  gboolean clip_sample;
  double clip_sample_range;
  gboolean set_alpha_to_one;
  int steps_offset;
  DdimPrediction prediction_type;
  float *betas; /* T values, float32 as torch makes them */
  /* ᾱ_t = Π (1 − β_s), s ≤ t; double accumulation like torch's CPU cumprod */
  float *alphas_cumprod;
  double final_alpha_cumprod; /* ᾱ used after the last step (t = −1) */
} DdimNoiseSchedule;

/* Defaults (no scheduler_config.json): diffusers DDIMScheduler defaults, but
 * clip_sample off (our CLI contract: clipping only when the config asks). */
gboolean ddim_noise_schedule_init_default(DdimNoiseSchedule *schedule, GError **error);
gboolean ddim_noise_schedule_parse(const char *text, gssize length, const char *path,
                                   DdimNoiseSchedule *schedule, GError **error);
gboolean ddim_noise_schedule_load(const char *path, DdimNoiseSchedule *schedule, GError **error);
void ddim_noise_schedule_clear(DdimNoiseSchedule *schedule);

/* ᾱ at timestep t; t < 0 gives final_alpha_cumprod. */
double ddim_noise_schedule_alpha_bar(const DdimNoiseSchedule *schedule, int t);

/* torch.linspace(start, end, steps, dtype=float32) on the CPU. */
void ddim_linspace_f32(float start, float end, int steps, float *out);

#endif
