/* rng.h — counter-based Gaussian noise (Philox4x32-10, Salmon et al. 2011). */
#ifndef DDIM_RNG_H
#define DDIM_RNG_H

#include <stdint.h>
#include <stddef.h>

/* One Philox4x32-10 block: out = philox(counter, key). */
void ddim_philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]);

/* Normal values for elements [first, first + count) of one image's stream. */
void ddim_rng_normal(uint64_t seed, uint64_t stream, uint64_t first, size_t count, float *out);

#endif
