/* torch-zip.h — the zip container of torch.save (PyTorch ≥ 1.6).
 *
 * Reads the central directory (ZIP64 included) of a zip held in memory and
 * lists its stored entries: name, where the data starts in the buffer, and
 * its size.  Only what torch.save writes is accepted: stored (uncompressed),
 * unencrypted entries on one disk, every name under one top-level folder
 * whose name is taken from the first entry (PyTorchStreamReader does the
 * same), no duplicate names, entries that lie inside the file before the
 * central directory and do not overlap. */
#ifndef DDIM_TORCH_ZIP_H
#define DDIM_TORCH_ZIP_H

#include <glib.h>
#include <stdint.h>

#define DDIM_ZIP_MAX_ENTRIES 1000000

typedef struct {
  char *name;           /* full name, root folder included */
  uint64_t data_offset; /* from the start of the buffer */
  uint64_t size;
} DdimZipEntry;

typedef struct {
  char *root; /* the top-level folder, without '/' */
  DdimZipEntry *entries;
  int n_entries;
  GHashTable *by_name; /* full name → DdimZipEntry* */
} DdimZip;

/* Parse and validate; `path` is for messages.  The bytes are not kept. */
DdimZip *ddim_zip_parse(const guint8 *bytes, size_t size, const char *path, GError **error);
void ddim_zip_free(DdimZip *zip);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DdimZip, ddim_zip_free)

/* The entry <root>/<relative>, or NULL. */
const DdimZipEntry *ddim_zip_find(const DdimZip *zip, const char *relative);

#endif
