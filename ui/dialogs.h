/* dialogs.h — the DDIM procedures' dialogs (GimpProcedureDialog). */
#ifndef DDIM_UI_DIALOGS_H
#define DDIM_UI_DIALOGS_H

#include <libgimp/gimp.h>
#include <libgimp/gimpui.h>

#include "plugin.h"

/* Shows the procedure's dialog; TRUE when the user pressed OK (the config
 * then holds the chosen values, which GIMP keeps as the last values).  After
 * OK the dialog stays open in *dialog_out, for the running state (run-view.h);
 * the caller destroys it.  After Cancel it is gone and *dialog_out is NULL. */
gboolean plugin_dialog_run(GimpProcedure *procedure, GimpProcedureConfig *config, PluginKind kind,
                           GimpImage *image, GimpDrawable **drawables, GtkWidget **dialog_out);

#endif
