/* cli-images.h — the ddim command's image and latent files.
 *
 * Images are .png (8-bit grey/RGB/RGBA through ddim-pixels.h) or .npy
 * (float32 model space, (C, H, W) or (N, C, H, W)); latents are .npy.  The
 * format is chosen by the extension, case-insensitively. */
#ifndef DDIM_CLI_IMAGES_H
#define DDIM_CLI_IMAGES_H

#include "ddim.h"

G_BEGIN_DECLS

typedef enum {
  CLI_FORMAT_PNG,
  CLI_FORMAT_NPY,
} CliFormat;

/* The format of `path` by its extension; png_allowed FALSE restricts to .npy. */
gboolean cli_file_format(const char *path, gboolean png_allowed, CliFormat *format, GError **error);

typedef struct {
  float *data;                 /* (N, C, H, W), model space */
  DdimShape shape;             /* as the model runs it */
  int rank;                    /* 4 when the file had a batch dimension, else 3 */
  int file_width, file_height; /* the file's size; differs from shape when resized */
} CliTensor;

void cli_tensor_clear(CliTensor *tensor);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(CliTensor, cli_tensor_clear)

/* An image input the model can run with `params` (tiled when larger than a
 * tile; params NULL: the network itself, untiled).  A PNG whose size is not
 * the model's native size is used as it is when the run can take it, and
 * refused with a hint otherwise; with `resize` it is scaled to the native
 * size instead (noted on stderr), and file_width/file_height keep its own
 * size. */
gboolean cli_load_image(DdimModel *model, const DdimParams *params, const char *path,
                        gboolean resize, CliTensor *tensor, GError **error);

/* A latent (.npy) the model can run with `params` (NULL: untiled). */
gboolean cli_load_latent(DdimModel *model, const DdimParams *params, const char *path,
                         CliTensor *tensor, GError **error);

/* A mask for width × height images: a PNG (grey, or the first channel; 0
 * keep … 255 regenerate; alpha is ignored) or a .npy of float32 (H, W) or
 * (1, H, W) in [0, 1].  A mask of another size is refused, naming both. */
gboolean cli_load_mask(const char *path, int width, int height, float **mask, GError **error);

/* Checks an output name before a long run: its format, its pattern, and
 * that the files can be created (the names' lengths, an existing folder we
 * may write in).  count: the images it will receive (a PNG series' names are
 * longer), or 0 when not yet known (the single name is checked). */
gboolean cli_check_output(const char *out, gboolean png_allowed, int count, GError **error);

/* Writes shape.n images to `out`: a .npy is one file (with a batch dimension
 * when with_batch_dim or shape.n > 1); a .png is one file per image, named by
 * the rule of cli_name_pattern_format(), written all or nothing (a failure
 * leaves no file of the series and says so).  Images are scaled to
 * width × height first when that differs from the shape (noted on stderr). */
gboolean cli_save_images(const char *out, const float *data, DdimShape shape,
                         gboolean with_batch_dim, int width, int height, GError **error);

/* Resamples `channels` planes: box filter when shrinking, bilinear when
 * enlarging (separately per axis). */
void cli_resample(const float *in, int channels, int in_width, int in_height, float *out,
                  int out_width, int out_height);

G_END_DECLS

#endif /* DDIM_CLI_IMAGES_H */
