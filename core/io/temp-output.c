/* temp-output.c — files being written under a temporary name, and the
 * signal handlers that remove them (see temp-output.h). */
#include "temp-output.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The registry is read by signal handlers, which may run on any thread at any
 * moment, so it holds only lock-free atomic pointers: a handler takes each
 * name with an atomic exchange and unlinks it, and the writer frees a name
 * only when it takes it back itself.  Slots come in blocks; a block is added
 * only when every slot is taken (a long --count series is written in full
 * before any file is renamed) and is never freed, so a handler can walk the
 * chain while it grows. */
_Static_assert(ATOMIC_POINTER_LOCK_FREE == 2, "signal handlers need lock-free atomic pointers");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "signal handlers need lock-free atomic integers");

#define TEMP_SLOTS_PER_BLOCK 64

typedef struct TempBlock {
  _Atomic(char *) slots[TEMP_SLOTS_PER_BLOCK];
  _Atomic(struct TempBlock *) next;
} TempBlock;

static TempBlock temp_registry;
/* Folders made for outputs (ddim_temp_output_create_folder), removed by a
 * handler after the files, deepest first. */
static TempBlock folder_registry;
/* Threads between creating (or renaming, or removing) a temporary file and
 * recording that in the registry: a handler waits for them, so it never
 * misses a file that exists or unlinks a name already renamed. */
static atomic_int temp_busy;
/* Set by a handler before it empties the registry: no new file after it. */
static atomic_int temp_dying;

static void removal_signals(sigset_t *set) {
  sigemptyset(set);
  sigaddset(set, SIGINT);
  sigaddset(set, SIGTERM);
  sigaddset(set, SIGHUP);
}

/* Begins a change of the registry.  The signals are blocked on this thread
 * meanwhile: a handler on this thread would wait for the change forever.
 * FALSE (errno EINTR) when a handler is already ending the process. */
static gboolean registry_enter(sigset_t *saved) {
  sigset_t block;
  removal_signals(&block);
  pthread_sigmask(SIG_BLOCK, &block, saved);
  atomic_fetch_add(&temp_busy, 1);
  if (atomic_load(&temp_dying)) {
    atomic_fetch_sub(&temp_busy, 1);
    pthread_sigmask(SIG_SETMASK, saved, NULL);
    errno = EINTR;
    return FALSE;
  }
  return TRUE;
}

static void registry_leave(const sigset_t *saved) {
  atomic_fetch_sub(&temp_busy, 1);
  pthread_sigmask(SIG_SETMASK, saved, NULL);
}

static void registry_add(TempBlock *registry, char *name) {
  for (TempBlock *block = registry;;) {
    for (int i = 0; i < TEMP_SLOTS_PER_BLOCK; i++) {
      char *empty = NULL;
      if (atomic_compare_exchange_strong(&block->slots[i], &empty, name)) return;
    }
    TempBlock *next = atomic_load(&block->next);
    if (next == NULL) {
      TempBlock *fresh = g_new0(TempBlock, 1);
      if (atomic_compare_exchange_strong(&block->next, &next, fresh))
        next = fresh;
      else
        g_free(fresh);
    }
    block = next;
  }
}

/* Takes name back; frees it unless a handler took it first (and may be
 * reading it). */
static void registry_remove(TempBlock *registry, char *name) {
  for (TempBlock *block = registry; block; block = atomic_load(&block->next))
    for (int i = 0; i < TEMP_SLOTS_PER_BLOCK; i++) {
      char *expected = name;
      if (atomic_compare_exchange_strong(&block->slots[i], &expected, NULL)) {
        g_free(name);
        return;
      }
    }
}

FILE *ddim_temp_output_create(const char *target, char **temp_path) {
  g_autofree char *folder = g_path_get_dirname(target);
  char *name = g_build_filename(folder, DDIM_TEMP_OUTPUT_TEMPLATE, NULL);
  sigset_t saved;
  if (!registry_enter(&saved)) {
    g_free(name);
    return NULL;
  }
  int fd = g_mkstemp_full(name, O_WRONLY | O_CLOEXEC, 0666);
  int saved_errno = errno;
  if (fd >= 0) registry_add(&temp_registry, name);
  registry_leave(&saved);
  if (fd < 0) {
    g_free(name);
    errno = saved_errno;
    return NULL;
  }
  FILE *file = fdopen(fd, "wb");
  if (file == NULL) {
    saved_errno = errno;
    close(fd);
    ddim_temp_output_discard(name);
    errno = saved_errno;
    return NULL;
  }
  *temp_path = name;
  return file;
}

gboolean ddim_temp_output_commit(char *temp_path, const char *target) {
  sigset_t saved;
  if (!registry_enter(&saved)) return FALSE;
  gboolean renamed = g_rename(temp_path, target) == 0;
  int saved_errno = errno;
  if (renamed) registry_remove(&temp_registry, temp_path);
  registry_leave(&saved);
  errno = saved_errno;
  return renamed;
}

void ddim_temp_output_discard(char *temp_path) {
  if (temp_path == NULL) return;
  sigset_t saved;
  if (!registry_enter(&saved)) {
    /* A handler is removing every file; the name may be in its hands. */
    g_unlink(temp_path);
    return;
  }
  g_unlink(temp_path);
  registry_remove(&temp_registry, temp_path);
  registry_leave(&saved);
}

gboolean ddim_temp_output_create_folder(const char *path, char ***created) {
  /* The missing folders, deepest first. */
  GPtrArray *missing = g_ptr_array_new_with_free_func(g_free);
  char *folder = g_strdup(path);
  while (!g_file_test(folder, G_FILE_TEST_EXISTS)) {
    char *parent = g_path_get_dirname(folder);
    g_ptr_array_add(missing, folder);
    gboolean top = strcmp(parent, folder) == 0;
    folder = parent;
    if (top) break;
  }
  g_free(folder);
  GPtrArray *made = g_ptr_array_new();
  gboolean ok = TRUE;
  int saved_errno = 0;
  for (guint i = missing->len; ok && i-- > 0;) {
    sigset_t saved;
    /* Made and registered with the signals held off, so that a handler
     * sees every folder that exists. */
    if (!registry_enter(&saved)) {
      saved_errno = errno;
      ok = FALSE;
      break;
    }
    const char *name = g_ptr_array_index(missing, i);
    if (g_mkdir(name, 0777) == 0) {
      char *registered = g_strdup(name);
      registry_add(&folder_registry, registered);
      g_ptr_array_insert(made, 0, registered);
    } else if (errno != EEXIST || !g_file_test(name, G_FILE_TEST_IS_DIR)) {
      /* EEXIST: made meanwhile by someone else, whose it stays. */
      saved_errno = errno;
      ok = FALSE;
    }
    registry_leave(&saved);
  }
  g_ptr_array_free(missing, TRUE);
  g_ptr_array_add(made, NULL);
  char **folders = (char **)g_ptr_array_free(made, FALSE);
  if (!ok) {
    ddim_temp_output_remove_folders(folders);
    errno = saved_errno;
    return FALSE;
  }
  *created = folders;
  return TRUE;
}

static void forget_folders(char **created, gboolean remove) {
  if (created == NULL) return;
  for (char **folder = created; *folder; folder++) {
    sigset_t saved;
    if (!registry_enter(&saved)) {
      /* A handler is removing every folder; the name may be in its hands. */
      if (remove) g_rmdir(*folder);
      continue;
    }
    if (remove) g_rmdir(*folder);
    registry_remove(&folder_registry, *folder);
    registry_leave(&saved);
  }
  g_free(created);
}

void ddim_temp_output_keep_folders(char **created) {
  forget_folders(created, FALSE);
}

void ddim_temp_output_remove_folders(char **created) {
  forget_folders(created, TRUE);
}

/* Async-signal-safe: atomics, unlink(), rmdir(), signal() and raise() only.  Nothing
 * is freed: the process ends. */
static void remove_partial_files(int signal_number) {
  atomic_store(&temp_dying, 1);
  while (atomic_load(&temp_busy) > 0) {
  }
  for (TempBlock *block = &temp_registry; block; block = atomic_load(&block->next))
    for (int i = 0; i < TEMP_SLOTS_PER_BLOCK; i++) {
      char *name = atomic_exchange(&block->slots[i], NULL);
      if (name) unlink(name);
    }
  /* Folders are registered parent first, and a parent is empty only once its
   * children are gone: passes repeat while one removes a folder.  No writer
   * changes the registry any more (temp_dying), so plain loads do. */
  for (int removed = 1; removed;) {
    removed = 0;
    for (TempBlock *block = &folder_registry; block; block = atomic_load(&block->next))
      for (int i = 0; i < TEMP_SLOTS_PER_BLOCK; i++) {
        char *name = atomic_load(&block->slots[i]);
        if (name && rmdir(name) == 0) {
          atomic_store(&block->slots[i], NULL);
          removed = 1;
        }
      }
  }
  /* The signal is blocked while its handler runs; it is delivered again, with
   * its default action, when the handler returns. */
  signal(signal_number, SIG_DFL);
  raise(signal_number);
}

void ddim_io_remove_partial_files_on_signals(void) {
  static const int handled[] = {SIGINT, SIGTERM, SIGHUP};
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = remove_partial_files;
  /* One handler at a time per thread: the others wait until it has run. */
  removal_signals(&action.sa_mask);
  for (guint i = 0; i < G_N_ELEMENTS(handled); i++) {
    struct sigaction old;
    if (sigaction(handled[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue;
    sigaction(handled[i], &action, NULL);
  }
  signal(SIGXFSZ, SIG_IGN);
}

gboolean ddim_pending_file_commit(DdimPendingFile *file, GError **error) {
  g_return_val_if_fail(file != NULL, FALSE);
  gboolean ok = ddim_temp_output_commit(file->temp_path, file->path);
  if (ok) {
    file->temp_path = NULL;
  } else {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO, "%s: cannot write: %s", file->path,
                g_strerror(errno));
  }
  ddim_pending_file_discard(file);
  return ok;
}

void ddim_pending_file_discard(DdimPendingFile *file) {
  if (file == NULL) return;
  ddim_temp_output_discard(file->temp_path);
  g_free(file->path);
  g_free(file);
}
