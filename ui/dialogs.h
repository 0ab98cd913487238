/* dialogs.h — the DDIM procedures' dialogs (GimpProcedureDialog). */
#ifndef DDIM_UI_DIALOGS_H
#define DDIM_UI_DIALOGS_H

#include <libgimp/gimp.h>

#include "plugin.h"

/* Shows the procedure's dialog; TRUE when the user pressed OK (the config
 * then holds the chosen values, which GIMP keeps as the last values). */
gboolean plugin_dialog_run(GimpProcedure *procedure, GimpProcedureConfig *config, PluginKind kind,
                           GimpImage *image, GimpDrawable **drawables);

#endif
