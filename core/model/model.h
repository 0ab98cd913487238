/* model.h — internal view of a loaded model. */
#ifndef DDIM_MODEL_H
#define DDIM_MODEL_H

#include "ddim.h"
#include "noise-schedule.h"
#include "safetensors.h"
#include "unet-config.h"
#include "unet.h"

struct DdimModel {
  DdimModelInfo info;
  DdimUnetConfig config;
  DdimNoiseSchedule schedule;
  DdimSafetensors *weights;
  DdimUnet *net;
  uint64_t memory_limit;
  char *config_path, *weights_path, *scheduler_path, *identity;
  char *config_text; /* the config.json text used (read, official or inferred) */
  char *source;      /* what the weights are: format, part of a checkpoint, config origin */
};

/* A size needed and the smaller limit it exceeds, as "needs A, more than the
 * B limit" shows them: in whole MB (10^6 bytes) when that tells them apart,
 * else in kB, else in bytes — a 400 kB run over a 100 kB limit is not "0 MB,
 * more than the 0 MB limit".  Both strings are the caller's. */
void ddim_model_format_sizes(uint64_t needed, uint64_t limit, char **needed_text,
                             char **limit_text);

/* The size limits alone (what ddim_model_check_shape checks besides the
 * batch, the channels and the size multiple): at most DDIM_MAX_SIDE pixels a
 * side and 2^26 in all, the message naming the one exceeded.  A tiled run
 * checks its image with this, since any size is tiled. */
gboolean ddim_model_check_size(DdimShape shape, GError **error);

#endif
