/* timesteps.h — which timesteps a DDIM run of S steps visits. */
#ifndef DDIM_TIMESTEPS_H
#define DDIM_TIMESTEPS_H

#include "ddim.h"

/* Fill *timesteps (g_free) with the ascending, duplicate-free timesteps of a
 * schedule over T training steps; returns the count, or 0 with error set. */
int ddim_timesteps_make(DdimSchedule schedule, int num_train_timesteps, int steps, int steps_offset,
                        int **timesteps, GError **error);

#endif
