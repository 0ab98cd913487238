/* plugin.h — names and entry points shared by the DDIM plug-in's files.
 *
 * One executable ("ddim", installed as <plug-ins>/ddim/ddim) registers six
 * procedures under Filters ▸ DDIM, one per workflow of the core's job API
 * (ddim-job.h).  Each procedure's run function follows the same three
 * phases, so that the computation runs on a worker thread without touching
 * libgimp from it:
 *   1. read: arguments, the model and the input pixels (main thread, PDB);
 *   2. compute: a DdimJob on plain memory (ddim_job_run; no libgimp, no GTK);
 *   3. write: every new layer and parasite in one undo group (main thread).
 * The plug-in uses its dialogs (ui/), never the other way round.
 * Nothing is added to the image before phase 3, so GIMP's Cancel (which
 * kills the plug-in) leaves the image as it was. */
#ifndef DDIM_PLUGIN_H
#define DDIM_PLUGIN_H

#include <libgimp/gimp.h>

#include "ddim-job.h"

#define PLUG_IN_BINARY "ddim"
#define PLUG_IN_ROLE "ddim-gimp"
#define MENU_PATH "<Image>/Filters/DDIM"
/* The help domain of the plug-in's pages; each procedure's help id is its
 * name, mapped to a page in help/<language>/gimp-help.xml. */
#define PLUGIN_HELP_DOMAIN "ddim-for-gimp"

#define PROC_GENERATE "plug-in-ddim-generate"
#define PROC_RECONSTRUCT "plug-in-ddim-reconstruct"
#define PROC_VARY "plug-in-ddim-vary"
#define PROC_INTERPOLATE "plug-in-ddim-interpolate"
#define PROC_ENCODE "plug-in-ddim-encode"
#define PROC_DECODE "plug-in-ddim-decode"

/* procedures-*.c: define a procedure's arguments, and run it. */
GimpProcedure *plugin_generate_new(GimpPlugIn *plug_in);
GimpProcedure *plugin_reconstruct_new(GimpPlugIn *plug_in);
GimpProcedure *plugin_vary_new(GimpPlugIn *plug_in);
GimpProcedure *plugin_interpolate_new(GimpPlugIn *plug_in);
GimpProcedure *plugin_encode_new(GimpPlugIn *plug_in);
GimpProcedure *plugin_decode_new(GimpPlugIn *plug_in);

/* A failed run: the message goes back to the caller (Script-Fu prints it;
 * the GUI shows it in an error dialog). */
GimpValueArray *plugin_failure(GimpProcedure *procedure, GimpPDBStatusType status, GError *error);

#endif
