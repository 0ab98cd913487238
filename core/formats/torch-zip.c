/* torch-zip.c — how the central directory of a torch.save zip is read.
 *
 * Structures from PKWARE's APPNOTE.TXT (all little-endian).  Sizes and
 * offsets come from the central directory, as PyTorch's reader takes them:
 * torch.save sets general-purpose bit 3, so the local headers hold zero
 * sizes.  An entry's data starts after its local header, whose name and
 * extra lengths may differ from the central ones (PyTorch pads the local
 * extra field so data is 64-byte aligned). */
#include "torch-zip.h"

#include "ddim.h"

#include <string.h>

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_ZIP64_EOCD 0x06064b50u
#define SIG_ZIP64_LOCATOR 0x07064b50u
#define EOCD_SIZE 22
#define LOCATOR_SIZE 20
#define ZIP64_EOCD_SIZE 56
#define CENTRAL_SIZE 46
#define LOCAL_SIZE 30

static uint16_t u16(const guint8 *p) {
  return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t u32(const guint8 *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t u64(const guint8 *p) {
  return (uint64_t)u32(p) | (uint64_t)u32(p + 4) << 32;
}

static gboolean fail(GError **error, const char *path, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static gboolean fail(GError **error, const char *path, const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  g_autofree char *what = g_strdup_vprintf(fmt, args);
  va_end(args);
  g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: not a valid PyTorch zip checkpoint: %s",
              path, what);
  return FALSE;
}

void ddim_zip_free(DdimZip *zip) {
  if (!zip) return;
  for (int i = 0; i < zip->n_entries; i++) g_free(zip->entries[i].name);
  g_free(zip->entries);
  if (zip->by_name) g_hash_table_destroy(zip->by_name);
  g_free(zip->root);
  g_free(zip);
}

typedef struct {
  uint64_t entries, cd_size, cd_offset;
  size_t eocd; /* offset of the classic end record */
} Directory;

/* The end of central directory record, searched backwards over at most a
 * 64 KiB comment; ZIP64 values replace the classic ones when present. */
static gboolean find_directory(const guint8 *bytes, size_t size, const char *path, Directory *dir,
                               GError **error) {
  if (size < EOCD_SIZE) return fail(error, path, "the file is too short (%zu bytes)", size);
  size_t lowest = size - EOCD_SIZE > 65535 ? size - EOCD_SIZE - 65535 : 0;
  size_t at = size - EOCD_SIZE;
  for (;; at--) {
    if (u32(bytes + at) == SIG_EOCD && at + EOCD_SIZE + u16(bytes + at + 20) == size) break;
    if (at == lowest) return fail(error, path, "no end-of-central-directory record (truncated?)");
  }
  const guint8 *eocd = bytes + at;
  if (u16(eocd + 4) != 0 || u16(eocd + 6) != 0 || u16(eocd + 8) != u16(eocd + 10))
    return fail(error, path, "a multi-disk archive");
  dir->eocd = at;
  dir->entries = u16(eocd + 10);
  dir->cd_size = u32(eocd + 12);
  dir->cd_offset = u32(eocd + 16);
  if (at >= LOCATOR_SIZE && u32(bytes + at - LOCATOR_SIZE) == SIG_ZIP64_LOCATOR) {
    const guint8 *locator = bytes + at - LOCATOR_SIZE;
    uint64_t record = u64(locator + 8);
    if (u32(locator + 4) != 0 || u32(locator + 16) > 1)
      return fail(error, path, "a multi-disk ZIP64 archive");
    if (record > at - LOCATOR_SIZE || at - LOCATOR_SIZE - record < ZIP64_EOCD_SIZE ||
        u32(bytes + record) != SIG_ZIP64_EOCD)
      return fail(error, path, "the ZIP64 end record is missing or misplaced");
    const guint8 *z = bytes + record;
    if (u32(z + 16) != 0 || u32(z + 20) != 0 || u64(z + 24) != u64(z + 32))
      return fail(error, path, "a multi-disk ZIP64 archive");
    dir->entries = u64(z + 32);
    dir->cd_size = u64(z + 40);
    dir->cd_offset = u64(z + 48);
    dir->eocd = (size_t)record;
  }
  if (dir->cd_offset > dir->eocd || dir->cd_size > dir->eocd - dir->cd_offset)
    return fail(error, path, "the central directory lies outside the file (truncated?)");
  if (dir->entries > DDIM_ZIP_MAX_ENTRIES || dir->entries > dir->cd_size / CENTRAL_SIZE)
    return fail(error, path,
                "the central directory declares %" G_GUINT64_FORMAT " entries in %" G_GUINT64_FORMAT
                " bytes",
                dir->entries, dir->cd_size);
  return TRUE;
}

/* ZIP64 extended information (id 0x0001): the 8-byte values of the fields
 * whose 32-bit value is 0xFFFFFFFF, in the order usize, csize, offset. */
static gboolean apply_zip64_extra(const guint8 *extra, size_t length, uint64_t *usize,
                                  uint64_t *csize, uint64_t *offset) {
  size_t at = 0;
  while (at + 4 <= length) {
    uint16_t id = u16(extra + at), field = u16(extra + at + 2);
    if (field > length - at - 4) return FALSE;
    if (id == 0x0001) {
      const guint8 *p = extra + at + 4;
      size_t left = field;
      uint64_t *targets[] = {usize, csize, offset};
      for (int i = 0; i < 3; i++) {
        if (*targets[i] != 0xFFFFFFFFu) continue;
        if (left < 8) return FALSE;
        *targets[i] = u64(p);
        p += 8;
        left -= 8;
      }
    }
    at += 4 + (size_t)field;
  }
  return at == length;
}

static gboolean safe_name(const char *name) {
  if (name[0] == '/' || strchr(name, '\\')) return FALSE;
  g_auto(GStrv) parts = g_strsplit(name, "/", -1);
  for (int i = 0; parts[i]; i++)
    if (strcmp(parts[i], "..") == 0 || strcmp(parts[i], ".") == 0) return FALSE;
  return TRUE;
}

typedef struct {
  uint64_t local, end; /* local header offset, end of data */
  const char *name;
} Extent;

static int compare_extents(const void *a, const void *b) {
  const Extent *x = a, *y = b;
  return x->local < y->local ? -1 : x->local > y->local;
}

DdimZip *ddim_zip_parse(const guint8 *bytes, size_t size, const char *path, GError **error) {
  Directory dir = {0};
  if (!find_directory(bytes, size, path, &dir, error)) return NULL;
  g_autoptr(DdimZip) zip = g_new0(DdimZip, 1);
  zip->entries = g_new0(DdimZipEntry, dir.entries ? dir.entries : 1);
  zip->by_name = g_hash_table_new(g_str_hash, g_str_equal);
  g_autofree Extent *extents = g_new0(Extent, dir.entries ? dir.entries : 1);

  const uint64_t cd_end = dir.cd_offset + dir.cd_size;
  uint64_t at = dir.cd_offset;
  for (uint64_t i = 0; i < dir.entries; i++) {
    if (at + CENTRAL_SIZE > cd_end || u32(bytes + at) != SIG_CENTRAL) {
      fail(error, path, "central directory entry %" G_GUINT64_FORMAT " is damaged", i);
      return NULL;
    }
    const guint8 *c = bytes + at;
    uint16_t flags = u16(c + 8), method = u16(c + 10);
    uint64_t csize = u32(c + 20), usize = u32(c + 24), local = u32(c + 42);
    size_t name_length = u16(c + 28), extra_length = u16(c + 30), comment_length = u16(c + 32);
    if (CENTRAL_SIZE + name_length + extra_length + comment_length > cd_end - at) {
      fail(error, path, "central directory entry %" G_GUINT64_FORMAT " runs past its end", i);
      return NULL;
    }
    const char *raw_name = (const char *)c + CENTRAL_SIZE;
    g_autofree char *name = g_strndup(raw_name, name_length);
    if (name_length == 0 || strlen(name) != name_length || !g_utf8_validate(name, -1, NULL) ||
        !safe_name(name)) {
      fail(error, path, "entry %" G_GUINT64_FORMAT " has an empty, binary or unsafe name", i);
      return NULL;
    }
    if (!apply_zip64_extra(c + CENTRAL_SIZE + name_length, extra_length, &usize, &csize, &local)) {
      fail(error, path, "entry \"%s\" has a malformed extra field", name);
      return NULL;
    }
    if (u16(c + 34) != 0 && u16(c + 34) != 0xFFFF) {
      fail(error, path, "entry \"%s\" is on another disk", name);
      return NULL;
    }
    if (flags & 0x0041) {
      fail(error, path, "entry \"%s\" is encrypted", name);
      return NULL;
    }
    if (method != 0 || csize != usize) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                  "%s: entry \"%s\" is compressed (method %u); torch.save writes stored entries, "
                  "so re-save the file with torch.save",
                  path, name, method);
      return NULL;
    }
    if (local > size || size - local < LOCAL_SIZE || u32(bytes + local) != SIG_LOCAL) {
      fail(error, path,
           "entry \"%s\" has no local header at offset %" G_GUINT64_FORMAT " (truncated?)", name,
           local);
      return NULL;
    }
    const guint8 *l = bytes + local;
    size_t local_name = u16(l + 26), local_extra = u16(l + 28);
    if (local_name != name_length || size - local - LOCAL_SIZE < local_name ||
        memcmp(l + LOCAL_SIZE, raw_name, name_length) != 0) {
      fail(error, path, "entry \"%s\" has a different name in its local header", name);
      return NULL;
    }
    if (u16(l + 6) & 0x0041) {
      fail(error, path, "entry \"%s\" is encrypted", name);
      return NULL;
    }
    uint64_t data = local + LOCAL_SIZE + local_name + local_extra;
    if (data > dir.cd_offset || usize > dir.cd_offset - data) {
      fail(error, path,
           "entry \"%s\" declares %" G_GUINT64_FORMAT " bytes at offset %" G_GUINT64_FORMAT
           ", past the end of the data (truncated?)",
           name, usize, data);
      return NULL;
    }
    if (i == 0) {
      const char *slash = strchr(name, '/');
      if (!slash || slash == name) {
        fail(error, path, "the first entry \"%s\" is not inside a folder", name);
        return NULL;
      }
      zip->root = g_strndup(name, (gsize)(slash - name));
    }
    if (strncmp(name, zip->root, strlen(zip->root)) != 0 || name[strlen(zip->root)] != '/') {
      fail(error, path, "entry \"%s\" is outside the archive folder \"%s/\"", name, zip->root);
      return NULL;
    }
    if (g_hash_table_contains(zip->by_name, name)) {
      fail(error, path, "entry \"%s\" appears twice", name);
      return NULL;
    }
    DdimZipEntry *entry = &zip->entries[zip->n_entries];
    entry->name = g_steal_pointer(&name);
    entry->data_offset = data;
    entry->size = usize;
    extents[zip->n_entries] = (Extent){local, data + usize, entry->name};
    g_hash_table_insert(zip->by_name, entry->name, entry);
    zip->n_entries++;
    at += CENTRAL_SIZE + name_length + extra_length + comment_length;
  }

  /* Entries must not overlap (overlapping entries are how zip bombs
   * multiply data): in file order, each one ends before the next begins. */
  qsort(extents, (size_t)zip->n_entries, sizeof *extents, compare_extents);
  for (int i = 0; i + 1 < zip->n_entries; i++) {
    if (extents[i].end > extents[i + 1].local) {
      fail(error, path, "entries \"%s\" and \"%s\" overlap", extents[i].name, extents[i + 1].name);
      return NULL;
    }
  }
  return g_steal_pointer(&zip);
}

const DdimZipEntry *ddim_zip_find(const DdimZip *zip, const char *relative) {
  g_autofree char *name = g_strdup_printf("%s/%s", zip->root, relative);
  return g_hash_table_lookup(zip->by_name, name);
}
