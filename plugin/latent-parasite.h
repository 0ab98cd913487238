/* latent-parasite.h — a layer's DDIM latent, kept as a persistent parasite
 * (saved in XCF) in the byte format of ddim-latent.h: float32 data with the
 * model's identity, the steps, schedule and strength of the encoding. */
#ifndef DDIM_PLUGIN_LATENT_PARASITE_H
#define DDIM_PLUGIN_LATENT_PARASITE_H

#include <libgimp/gimp.h>

#include "ddim-latent.h"

#define PLUGIN_LATENT_PARASITE "ddim-latent"

/* Attaches (or replaces) the latent; undoable, so call it inside the run's
 * undo group. */
void plugin_latent_attach(GimpItem *item, const DdimLatent *latent);

/* The latent stored on a layer; NULL with an error when there is none or
 * it is damaged. */
DdimLatent *plugin_latent_read(GimpItem *item, GError **error);

/* Whether the layer holds a latent (for sensitivity and messages). */
gboolean plugin_latent_present(GimpItem *item);

#endif
