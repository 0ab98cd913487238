/* ddim-latent.h — a latent x_T with what is needed to decode it again: the
 * model it came from, the schedule, steps and strength of the encoding.
 * Front ends store it (the GIMP plug-in as a layer parasite, saved in XCF);
 * the byte format is little-endian and versioned, and parsing validates
 * every field, since a latent read back from a file is untrusted input. */
#ifndef DDIM_LATENT_H
#define DDIM_LATENT_H

#include "ddim.h"

G_BEGIN_DECLS

#define DDIM_LATENT_IDENTITY_LENGTH 32

typedef struct {
  char model_identity[DDIM_LATENT_IDENTITY_LENGTH + 1]; /* DdimModelInfo.identity */
  int steps;
  DdimSchedule schedule;
  double strength; /* 1 = x_T at the top of the schedule */
  DdimShape shape;
  float *data; /* ddim_shape_elements(shape) values */
} DdimLatent;

DdimLatent *ddim_latent_new(const char *model_identity, const DdimParams *params, DdimShape shape,
                            const float *data);
void ddim_latent_free(DdimLatent *latent);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DdimLatent, ddim_latent_free)

GBytes *ddim_latent_serialize(const DdimLatent *latent);

/* `source` names where the bytes came from, for messages. */
DdimLatent *ddim_latent_parse(const guint8 *bytes, size_t size, const char *source, GError **error);

/* Refuse a latent from another model, or one whose shape the model cannot run. */
gboolean ddim_latent_check_model(const DdimLatent *latent, const DdimModel *model,
                                 const char *source, GError **error);

G_END_DECLS

#endif
