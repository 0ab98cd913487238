/* torch-checkpoint.h — weights files of any supported format, as a tensor
 * table for the network binder.
 *
 * The format is told from the bytes, never from the file name: safetensors,
 * a torch.save zip (PyTorch ≥ 1.6), a legacy torch.save stream (magic
 * number, pickles, raw storages), or a shard index (…index.json listing
 * shards in any of these).  Checkpoints are read with the restricted
 * unpickler (pickle.h); their storages are used in place from the file's
 * bytes, read into memory (safetensors.h: a mapped file truncated under a
 * running model would kill it with SIGBUS).  The state dict is chosen like this:
 *   - a dict whose values are all tensors: that dict;
 *   - a dict with "ema", "state_dict" or "model" holding such a dict: that;
 *   - a list or tuple (ermongroup/ddim training checkpoints [model,
 *     optimizer, epoch, step, ema]): the last item when there are at least
 *     five and it is a state dict (the EMA weights), else the first item;
 * and a "module." prefix on every name (nn.DataParallel) is removed. */
#ifndef DDIM_TORCH_CHECKPOINT_H
#define DDIM_TORCH_CHECKPOINT_H

#include "safetensors.h"

#include <glib.h>

typedef enum {
  DDIM_WEIGHTS_UNKNOWN,
  DDIM_WEIGHTS_SAFETENSORS,
  DDIM_WEIGHTS_TORCH_ZIP,
  DDIM_WEIGHTS_TORCH_LEGACY,
  DDIM_WEIGHTS_SHARD_INDEX,
} DdimWeightsFormat;

DdimWeightsFormat ddim_weights_sniff(const guint8 *bytes, size_t size);

/* Read a torch.save file (zip or legacy) held in memory; the bytes must
 * outlive the table.  *description (may be NULL) says what was read, e.g.
 * "PyTorch zip checkpoint, EMA weights of a training checkpoint". */
DdimSafetensors *ddim_torch_checkpoint_parse(const guint8 *bytes, size_t size, const char *path,
                                             char **description, GError **error);

/* Map and read a weights file of any supported format (see above). */
DdimSafetensors *ddim_weights_open(const char *path, char **description, GError **error);

#endif
