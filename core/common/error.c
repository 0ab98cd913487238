/* error.c — the DDIM_ERROR GError domain and shape helpers. */
#include "ddim.h"

/* The macro stringifies its first argument: it must stay one token. */
/* clang-format off */
G_DEFINE_QUARK(ddim-error-quark, ddim_error)
/* clang-format on */

size_t ddim_shape_elements(DdimShape shape) {
  if (shape.n <= 0 || shape.c <= 0 || shape.h <= 0 || shape.w <= 0) return 0;
  size_t total = 1;
  if (!g_size_checked_mul(&total, total, (size_t)shape.n) ||
      !g_size_checked_mul(&total, total, (size_t)shape.c) ||
      !g_size_checked_mul(&total, total, (size_t)shape.h) ||
      !g_size_checked_mul(&total, total, (size_t)shape.w))
    return 0;
  return total;
}
