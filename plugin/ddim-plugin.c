/* ddim-plugin.c — the GimpPlugIn subclass: registers the DDIM procedures
 * under Filters ▸ DDIM, their help pages (<plug-in folder>/help) and
 * translations (domain "ddim", catalog in the plug-in's own folder,
 * <plug-in folder>/locale). */
#include "plugin.h"

#include <glib/gi18n.h>

#ifndef DDIM_PLUGIN_HELP_DIR
#define DDIM_PLUGIN_HELP_DIR "help"
#endif

typedef struct {
  GimpPlugIn parent_instance;
} DdimPlugIn;

typedef struct {
  GimpPlugInClass parent_class;
} DdimPlugInClass;

#define DDIM_TYPE_PLUG_IN (ddim_plug_in_get_type())
GType ddim_plug_in_get_type(void) G_GNUC_CONST;
G_DEFINE_TYPE(DdimPlugIn, ddim_plug_in, GIMP_TYPE_PLUG_IN)

static const struct {
  const char *name;
  GimpProcedure *(*create)(GimpPlugIn *plug_in);
} procedures[] = {
    {PROC_GENERATE, plugin_generate_new}, {PROC_RECONSTRUCT, plugin_reconstruct_new},
    {PROC_VARY, plugin_vary_new},         {PROC_INTERPOLATE, plugin_interpolate_new},
    {PROC_ENCODE, plugin_encode_new},     {PROC_DECODE, plugin_decode_new},
};

static GList *ddim_query_procedures(GimpPlugIn *plug_in) {
  /* The Help button of every dialog opens the plug-in's own pages (help/,
   * installed beside it), not GIMP's manual, which knows nothing of DDIM. */
  g_autoptr(GFile) help = g_file_new_for_path(DDIM_PLUGIN_HELP_DIR);
  gimp_plug_in_set_help_domain(plug_in, PLUGIN_HELP_DOMAIN, help);
  GList *names = NULL;
  for (guint i = 0; i < G_N_ELEMENTS(procedures); i++)
    names = g_list_append(names, g_strdup(procedures[i].name));
  return names;
}

static GimpProcedure *ddim_create_procedure(GimpPlugIn *plug_in, const gchar *name) {
  for (guint i = 0; i < G_N_ELEMENTS(procedures); i++)
    if (g_strcmp0(name, procedures[i].name) == 0) return procedures[i].create(plug_in);
  return NULL;
}

static gboolean ddim_set_i18n(GimpPlugIn *plug_in, const gchar *procedure_name,
                              gchar **gettext_domain, gchar **catalog_dir) {
  (void)plug_in;
  (void)procedure_name;
  *gettext_domain = g_strdup(GETTEXT_PACKAGE);
  *catalog_dir = g_strdup("locale");
  return TRUE;
}

static void ddim_plug_in_class_init(DdimPlugInClass *klass) {
  GimpPlugInClass *plug_in_class = GIMP_PLUG_IN_CLASS(klass);
  plug_in_class->query_procedures = ddim_query_procedures;
  plug_in_class->create_procedure = ddim_create_procedure;
  plug_in_class->set_i18n = ddim_set_i18n;
}

static void ddim_plug_in_init(DdimPlugIn *plug_in) {
  (void)plug_in;
}

GimpValueArray *plugin_failure(GimpProcedure *procedure, GimpPDBStatusType status, GError *error) {
  if (error == NULL)
    error = g_error_new(GIMP_PLUG_IN_ERROR, 0, _("Procedure '%s' failed"),
                        gimp_procedure_get_name(procedure));
  /* Takes the error. */
  return gimp_procedure_new_return_values(procedure, status, error);
}

GIMP_MAIN(DDIM_TYPE_PLUG_IN)
