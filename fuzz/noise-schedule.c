/* noise-schedule.c — libFuzzer target: a scheduler_config.json.
 *
 * Bytes go to ddim_noise_schedule_parse; an accepted schedule must have
 * every β in (0, 1) and ᾱ decreasing within (0, 1], which is asserted, and
 * its timesteps are made for a few step counts and every schedule kind.
 * Built and run by tools/fuzz.sh. */
#include "noise-schedule.h"
#include "timesteps.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  GError *error = NULL;
  DdimNoiseSchedule schedule;
  if (ddim_noise_schedule_parse((const char *)data, (gssize)size, "fuzz", &schedule, &error)) {
    int T = schedule.num_train_timesteps;
    for (int t = 0; t < T; t++) {
      if (!(schedule.betas[t] > 0.0f && schedule.betas[t] < 1.0f)) __builtin_trap();
      double alpha_bar = ddim_noise_schedule_alpha_bar(&schedule, t);
      if (!(alpha_bar > 0.0 && alpha_bar <= 1.0)) __builtin_trap();
    }
    static const int step_counts[] = {1, 2, 7, 50, 1000};
    for (unsigned s = 0; s < G_N_ELEMENTS(step_counts); s++)
      for (int kind = DDIM_SCHEDULE_UNIFORM; kind <= DDIM_SCHEDULE_LINSPACE; kind++) {
        int *timesteps = NULL;
        int count = ddim_timesteps_make((DdimSchedule)kind, T, step_counts[s],
                                        schedule.steps_offset, &timesteps, NULL);
        for (int i = 0; i < count; i++)
          if (timesteps[i] < 0 || timesteps[i] >= T || (i && timesteps[i] <= timesteps[i - 1]))
            __builtin_trap();
        g_free(timesteps);
      }
    ddim_noise_schedule_clear(&schedule);
  }
  g_clear_error(&error);
  return 0;
}
