/* pickle.c — libFuzzer target: the restricted unpickler alone.
 *
 * The first byte picks how persistent ids are read (none, zip, legacy), the
 * rest is the pickle.  Every string of a result is read back so ASan sees a
 * pointer outside the input.  Built and run by tools/fuzz.sh. */
#include "pickle.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  static const DdimPickleStorageIds modes[] = {
      DDIM_PICKLE_ZIP_STORAGES, DDIM_PICKLE_LEGACY_STORAGES, DDIM_PICKLE_NO_STORAGES};
  GError *error = NULL;
  DdimPickle *pickle = ddim_pickle_parse(data + 1, size - 1, modes[data[0] % 3], "fuzz", &error);
  if (pickle) {
    volatile char sum = 0;
    for (guint id = 0; id < pickle->objects->len; id++) {
      const DdimPickleObject *object = ddim_pickle_object(pickle, id);
      if (object->kind == DDIM_PICKLE_STRING)
        for (size_t i = 0; i < object->length; i++) sum ^= object->text[i];
      for (guint i = 0; i < ddim_pickle_item_count(pickle, id); i++)
        sum ^= (char)ddim_pickle_object(pickle, ddim_pickle_item(pickle, id, i))->kind;
    }
    ddim_pickle_free(pickle);
  }
  g_clear_error(&error);
  return 0;
}
