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

#endif
