/* latent-parasite.c — latents as layer parasites (see latent-parasite.h). */
#include "latent-parasite.h"

#include "arguments.h"

#include <glib/gi18n.h>

void plugin_latent_attach(GimpItem *item, const DdimLatent *latent) {
  g_autoptr(GBytes) bytes = ddim_latent_serialize(latent);
  gsize size = 0;
  gconstpointer data = g_bytes_get_data(bytes, &size);
  GimpParasite *parasite =
      gimp_parasite_new(PLUGIN_LATENT_PARASITE, GIMP_PARASITE_PERSISTENT | GIMP_PARASITE_UNDOABLE,
                        (guint32)size, data);
  gimp_item_attach_parasite(item, parasite);
  gimp_parasite_free(parasite);
}

gboolean plugin_latent_present(GimpItem *item) {
  GimpParasite *parasite = gimp_item_get_parasite(item, PLUGIN_LATENT_PARASITE);
  if (parasite == NULL) return FALSE;
  gimp_parasite_free(parasite);
  return TRUE;
}

DdimLatent *plugin_latent_read(GimpItem *item, GError **error) {
  g_autofree char *name = plugin_item_name(item);
  GimpParasite *parasite = gimp_item_get_parasite(item, PLUGIN_LATENT_PARASITE);
  if (parasite == NULL) {
    g_set_error(error, GIMP_PLUG_IN_ERROR, 0,
                _("The layer '%s' holds no DDIM latent: make one with Filters ▸ DDIM ▸ Encode, "
                  "or choose a layer that DDIM made"),
                name);
    return NULL;
  }
  guint32 size = 0;
  gconstpointer data = gimp_parasite_get_data(parasite, &size);
  g_autofree char *source = g_strdup_printf(_("layer '%s'"), name);
  DdimLatent *latent = ddim_latent_parse(data, size, source, error);
  gimp_parasite_free(parasite);
  return latent;
}
