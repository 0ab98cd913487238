/* npy.h — NumPy .npy files holding model-space tensors.
 *
 * Reading accepts format versions 1.0, 2.0 and 3.0, little-endian float32
 * ('<f4') or float64 ('<f8', converted to float32), C order, of shape
 * (C, H, W) or (N, C, H, W).  Everything in the file is validated before use
 * and a problem is reported in the DDIM_ERROR domain with a message that
 * starts with the file name.
 *
 * Writing produces version 1.0 '<f4' files whose header is padded so that the
 * data starts at a multiple of 64 bytes, as NumPy does.  The file is written
 * under a temporary name in the same folder and renamed over the target, so
 * a failed write never leaves a partial file behind.
 */
#ifndef DDIM_NPY_H
#define DDIM_NPY_H

#include "ddim.h"

G_BEGIN_DECLS

/* Largest header (the Python dict) accepted, in bytes; NumPy's own limit is
 * 10000 unless the reader is told otherwise. */
#define DDIM_NPY_MAX_HEADER_BYTES (1 << 20)

/* Reads a tensor.  A rank-3 file gives shape->n = 1.  *data receives
 * ddim_shape_elements(*shape) floats (g_free them). */
gboolean ddim_npy_read(const char *path, float **data, DdimShape *shape, GError **error);

/* As ddim_npy_read, and *rank receives 3 or 4 (whether the file had N). */
gboolean ddim_npy_read_with_rank(const char *path, float **data, DdimShape *shape, int *rank,
                                 GError **error);

/* As ddim_npy_read_with_rank, from `size` bytes in memory (fuzzing, tests);
 * `name` starts the messages.  rank may be NULL. */
gboolean ddim_npy_parse(const guint8 *bytes, size_t size, const char *name, float **data,
                        DdimShape *shape, int *rank, GError **error);

/* Writes shape as (N, C, H, W) when with_batch_dim, else as (C, H, W), which
 * needs shape.n == 1. */
gboolean ddim_npy_write(const char *path, const float *data, DdimShape shape,
                        gboolean with_batch_dim, GError **error);

G_END_DECLS

#endif /* DDIM_NPY_H */
