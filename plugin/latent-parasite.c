/* latent-parasite.c — latents as layer parasites (see latent-parasite.h). */
#include "latent-parasite.h"

#include "arguments.h"

#include <glib/gi18n.h>
#include <string.h>

#define ORIGIN_INVERSION "inversion"
#define ORIGIN_NOISE "noise"

static void attach(GimpItem *item, const char *name, gconstpointer data, gsize size) {
  GimpParasite *parasite = gimp_parasite_new(
      name, GIMP_PARASITE_PERSISTENT | GIMP_PARASITE_UNDOABLE, (guint32)size, data);
  gimp_item_attach_parasite(item, parasite);
  gimp_parasite_free(parasite);
}

void plugin_latent_attach(GimpItem *item, const DdimLatent *latent, gboolean from_inversion) {
  g_autoptr(GBytes) bytes = ddim_latent_serialize(latent);
  gsize size = 0;
  gconstpointer data = g_bytes_get_data(bytes, &size);
  attach(item, PLUGIN_LATENT_PARASITE, data, size);
  const char *origin = from_inversion ? ORIGIN_INVERSION : ORIGIN_NOISE;
  attach(item, PLUGIN_LATENT_ORIGIN_PARASITE, origin, strlen(origin));
}

gboolean plugin_latent_present(GimpItem *item) {
  GimpParasite *parasite = gimp_item_get_parasite(item, PLUGIN_LATENT_PARASITE);
  if (parasite == NULL) return FALSE;
  gimp_parasite_free(parasite);
  return TRUE;
}

static gboolean read_origin(GimpItem *item) {
  GimpParasite *parasite = gimp_item_get_parasite(item, PLUGIN_LATENT_ORIGIN_PARASITE);
  if (parasite == NULL) return TRUE;
  guint32 size = 0;
  const char *data = gimp_parasite_get_data(parasite, &size);
  gboolean noise = data && size == strlen(ORIGIN_NOISE) && memcmp(data, ORIGIN_NOISE, size) == 0;
  gimp_parasite_free(parasite);
  return !noise;
}

DdimLatent *plugin_latent_read(GimpItem *item, gboolean *from_inversion, GError **error) {
  if (from_inversion) *from_inversion = read_origin(item);
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
