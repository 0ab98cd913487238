/* rng.c — seeded Gaussian noise that does not depend on threads or tiling.
 *
 * Element i of a stream is a pure function of (seed, stream, i): block
 * i >> 2 of Philox4x32-10 gives four 32-bit words, turned into four normals by
 * Box–Muller on the pairs (r0, r1) and (r2, r3); element i takes lane i & 3. */
#include "ddim.h"
#include "rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void ddim_philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]) {
  uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
  uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; round++) {
    uint64_t product0 = (uint64_t)PHILOX_M0 * c0;
    uint64_t product1 = (uint64_t)PHILOX_M1 * c2;
    uint32_t hi0 = (uint32_t)(product0 >> 32), lo0 = (uint32_t)product0;
    uint32_t hi1 = (uint32_t)(product1 >> 32), lo1 = (uint32_t)product1;
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

static void box_muller(uint32_t r_log, uint32_t r_angle, double *n0, double *n1) {
  /* u1 in (0, 1] so the log is finite; u2 in [0, 1). */
  double u1 = ((double)r_log + 1.0) / 4294967296.0;
  double u2 = (double)r_angle / 4294967296.0;
  double radius = sqrt(-2.0 * log(u1));
  double angle = 2.0 * G_PI * u2;
  *n0 = radius * cos(angle);
  *n1 = radius * sin(angle);
}

void ddim_rng_normal(uint64_t seed, uint64_t stream, uint64_t first, size_t count, float *out) {
  const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  uint64_t index = first;
  size_t written = 0;
  while (written < count) {
    uint64_t block = index >> 2;
    uint32_t counter[4] = {(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)stream,
                           (uint32_t)(stream >> 32)};
    uint32_t words[4];
    ddim_philox4x32_10(counter, key, words);
    double normals[4];
    box_muller(words[0], words[1], &normals[0], &normals[1]);
    box_muller(words[2], words[3], &normals[2], &normals[3]);
    for (unsigned lane = (unsigned)(index & 3); lane < 4 && written < count; lane++) {
      out[written++] = (float)normals[lane];
      index++;
    }
  }
}

void ddim_noise(uint64_t seed, uint64_t stream, DdimShape shape, float *out) {
  size_t per_image = (size_t)shape.c * (size_t)shape.h * (size_t)shape.w;
  for (int k = 0; k < shape.n; k++)
    ddim_rng_normal(seed + (uint64_t)k, stream, 0, per_image, out + (size_t)k * per_image);
}
