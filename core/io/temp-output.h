/* temp-output.h — files being written, under a temporary name until they are
 * complete (temp-output.c; npy.c and png-io.c write through it).
 *
 * A temporary file is named .ddim-XXXXXX in the target's folder: not derived
 * from the target's name, so that it fits whenever the target does (a
 * 255-byte name plus a suffix would not), and in the same folder, so that the
 * final rename stays within one filesystem and is atomic.  While it exists
 * its name is in a registry that the handlers of
 * ddim_io_remove_partial_files_on_signals() read: they unlink every name in
 * it, so a signal leaves each output complete or absent. */
#ifndef DDIM_TEMP_OUTPUT_H
#define DDIM_TEMP_OUTPUT_H

#include "ddim-io.h"

#include <stdio.h>

/* The template of every temporary name (the X's become random characters). */
#define DDIM_TEMP_OUTPUT_TEMPLATE ".ddim-XXXXXX"

/* Creates and registers a new, empty temporary file in the folder of
 * `target`.  *temp_path receives its name, which belongs to the registry
 * from now on: pass it to ddim_temp_output_commit or ddim_temp_output_discard
 * and never free it.  Returns the file open for writing, or NULL with errno
 * set (nothing is left behind). */
FILE *ddim_temp_output_create(const char *target, char **temp_path);

/* Renames the temporary file over `target` and forgets it.  On failure errno
 * is set and the file stays (registered) for ddim_temp_output_discard. */
gboolean ddim_temp_output_commit(char *temp_path, const char *target);

/* Removes the temporary file and forgets it; temp_path may be NULL. */
void ddim_temp_output_discard(char *temp_path);

/* Creates the folder `path` with its missing parents, each registered so
 * that the handlers remove it (rmdir, after the files, so only when empty):
 * an interrupted writer that made a folder for its files leaves none.
 * *created receives the folders made, deepest first and NULL-terminated
 * (empty when `path` existed), owned by the registry: pass it to
 * ddim_temp_output_keep_folders or ddim_temp_output_remove_folders.  FALSE
 * with errno set when a folder cannot be made (those made are removed). */
gboolean ddim_temp_output_create_folder(const char *path, char ***created);

/* Forgets the folders (they stay) and frees the array; NULL is ignored. */
void ddim_temp_output_keep_folders(char **created);

/* Removes the folders that are empty, deepest first, forgets them and frees
 * the array; NULL is ignored. */
void ddim_temp_output_remove_folders(char **created);

/* A file written under its temporary name, not yet renamed to `path`. */
struct DdimPendingFile {
  char *path;
  char *temp_path; /* owned by the registry */
};

#endif /* DDIM_TEMP_OUTPUT_H */
