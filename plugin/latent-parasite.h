/* latent-parasite.h — a layer's DDIM latent, kept as a persistent parasite
 * (saved in XCF) in the byte format of ddim-latent.h: float32 data with the
 * model's identity, the steps, schedule and strength of the encoding. */
#ifndef DDIM_PLUGIN_LATENT_PARASITE_H
#define DDIM_PLUGIN_LATENT_PARASITE_H

#include <libgimp/gimp.h>

#include "ddim-latent.h"

#define PLUGIN_LATENT_PARASITE "ddim-latent"
/* Beside it, where the latent came from: "inversion" (Encode, Reconstruct,
 * Interpolate: decoded without clipping, to retrace the inversion) or
 * "noise" (Generate: decoded like the generation). */
#define PLUGIN_LATENT_ORIGIN_PARASITE "ddim-latent-origin"

/* Attaches (or replaces) the latent and its origin; undoable, so call it
 * inside the run's undo group. */
void plugin_latent_attach(GimpItem *item, const DdimLatent *latent, gboolean from_inversion);

/* The latent stored on a layer; NULL with an error when there is none or
 * it is damaged.  *from_inversion (may be NULL): its origin (TRUE when not
 * recorded). */
DdimLatent *plugin_latent_read(GimpItem *item, gboolean *from_inversion, GError **error);

/* Whether the layer holds a latent (for sensitivity and messages). */
gboolean plugin_latent_present(GimpItem *item);

#endif
