/* json-util.c — validated config.json members with diffusers' semantics. */
#include "ddim.h"
#include "json-util.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A scan of brackets outside strings, only to delimit and measure the text —
 * json-glib does the parsing, but it accepts trailing values (which our
 * formats forbid) and recurses once per nesting level (so a deeply nested
 * value would overflow the stack).  *value_length is the length of the first
 * value (0 when it does not close), *max_depth the deepest nesting. */
static void scan_brackets(const char *text, size_t length, size_t *value_length, int *max_depth) {
  int depth = 0;
  gboolean in_string = FALSE;
  *value_length = 0;
  *max_depth = 0;
  for (size_t i = 0; i < length; i++) {
    char c = text[i];
    if (in_string) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_string = FALSE;
    } else if (c == '"') {
      in_string = TRUE;
    } else if (c == '{' || c == '[') {
      if (++depth > *max_depth) *max_depth = depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0 && *value_length == 0) *value_length = i + 1;
    }
  }
}

gboolean ddim_json_read_file(const char *path, gsize max_length, char **text, gsize *length,
                             GError **error) {
  /* Open, then check what was opened: a FIFO, a device (a config.json
   * linked to /dev/zero) or a huge file is refused before it is read. */
  int fd = g_open(path, O_RDONLY | O_CLOEXEC, 0);
  struct stat info;
  if (fd < 0) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO, "%s: cannot read: %s", path, g_strerror(errno));
    return FALSE;
  }
  if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    close(fd);
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO, "%s: not a regular file", path);
    return FALSE;
  }
  if ((guint64)info.st_size > max_length) {
    close(fd);
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                "%s: too large for a config file (%" G_GUINT64_FORMAT " bytes; at most %zu)", path,
                (guint64)info.st_size, (size_t)max_length);
    return FALSE;
  }
  /* Read at most max_length + 1 bytes, in case the file grows meanwhile. */
  gsize capacity = (gsize)info.st_size + 1, used = 0;
  char *buffer = g_malloc(capacity + 1);
  for (;;) {
    if (used == capacity) {
      if (capacity > max_length) break;
      capacity = MIN(capacity * 2, max_length + 1);
      buffer = g_realloc(buffer, capacity + 1);
    }
    ssize_t got = read(fd, buffer + used, capacity - used);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      int saved_errno = errno;
      close(fd);
      g_free(buffer);
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO, "%s: cannot read: %s", path,
                  g_strerror(saved_errno));
      return FALSE;
    }
    if (got == 0) break;
    used += (gsize)got;
  }
  close(fd);
  if (used > max_length) {
    g_free(buffer);
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: too large for a config file", path);
    return FALSE;
  }
  buffer[used] = '\0';
  *text = buffer;
  *length = used;
  return TRUE;
}

gboolean ddim_json_has_trailing_data(const char *text, size_t length) {
  size_t value_length;
  int depth;
  scan_brackets(text, length, &value_length, &depth);
  for (size_t i = value_length; value_length && i < length; i++)
    if (!g_ascii_isspace(text[i])) return TRUE;
  return FALSE;
}

gboolean ddim_json_too_deep(const char *text, size_t length) {
  size_t value_length;
  int depth;
  scan_brackets(text, length, &value_length, &depth);
  return depth > DDIM_JSON_MAX_DEPTH;
}

/* json-glib keeps the last of duplicate member names (as Python's json
 * does); a file that says two things is refused instead.  Counts members per
 * object as they are parsed. */
static void count_member(JsonParser *parser, JsonObject *object, const char *name,
                         gpointer user_data) {
  (void)parser;
  (void)name;
  GHashTable *counts = user_data;
  g_hash_table_insert(counts, object,
                      GUINT_TO_POINTER(GPOINTER_TO_UINT(g_hash_table_lookup(counts, object)) + 1));
}

typedef struct {
  GHashTable *counts;
  gboolean duplicate;
} DuplicateCheck;

static void check_object(gpointer key, gpointer value, gpointer user_data) {
  DuplicateCheck *check = user_data;
  if (GPOINTER_TO_UINT(value) != json_object_get_size(key)) check->duplicate = TRUE;
}

GHashTable *ddim_json_count_members(JsonParser *parser) {
  GHashTable *counts = g_hash_table_new(g_direct_hash, g_direct_equal);
  g_signal_connect(parser, "object-member", G_CALLBACK(count_member), counts);
  return counts;
}

gboolean ddim_json_has_duplicate_member(GHashTable *counts) {
  DuplicateCheck check = {counts, FALSE};
  g_hash_table_foreach(counts, check_object, &check);
  return check.duplicate;
}

JsonObject *ddim_json_parse_object(JsonParser *parser, const char *text, gssize length,
                                   const char *path, GError **error) {
  g_autoptr(GError) json_error = NULL;
  if (length < 0) length = (gssize)strlen(text);
  if (memchr(text, '\0', (size_t)length) || !g_utf8_validate(text, length, NULL)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: not a text file", path);
    return NULL;
  }
  if (ddim_json_too_deep(text, (size_t)length)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                "%s: the JSON is nested more than %d levels deep", path, DDIM_JSON_MAX_DEPTH);
    return NULL;
  }
  g_autoptr(GHashTable) member_counts = ddim_json_count_members(parser);
  gboolean loaded = json_parser_load_from_data(parser, text, length, &json_error);
  g_signal_handlers_disconnect_matched(parser, G_SIGNAL_MATCH_DATA, 0, 0, NULL, NULL,
                                       member_counts);
  if (!loaded) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: not valid JSON: %s", path,
                json_error->message);
    return NULL;
  }
  if (ddim_json_has_duplicate_member(member_counts)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: a key appears twice in one object",
                path);
    return NULL;
  }
  JsonNode *root = json_parser_get_root(parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: the JSON is not an object", path);
    return NULL;
  }
  if (ddim_json_has_trailing_data(text, (size_t)length)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: text follows the JSON object", path);
    return NULL;
  }
  return json_node_get_object(root);
}

/* diffusers drops the keys listed in "_use_default_values" and uses defaults. */
gboolean ddim_json_uses_default(JsonObject *object, const char *key) {
  JsonNode *list = json_object_get_member(object, "_use_default_values");
  if (!list || !JSON_NODE_HOLDS_ARRAY(list)) return FALSE;
  JsonArray *array = json_node_get_array(list);
  for (guint i = 0; i < json_array_get_length(array); i++) {
    JsonNode *item = json_array_get_element(array, i);
    if (JSON_NODE_TYPE(item) == JSON_NODE_VALUE &&
        json_node_get_value_type(item) == G_TYPE_STRING &&
        strcmp(json_node_get_string(item), key) == 0)
      return TRUE;
  }
  return FALSE;
}

static JsonNode *member(JsonObject *object, const char *key) {
  if (ddim_json_uses_default(object, key)) return NULL;
  return json_object_get_member(object, key);
}

gboolean ddim_json_has(JsonObject *object, const char *key) {
  JsonNode *node = member(object, key);
  return node && !JSON_NODE_HOLDS_NULL(node);
}

gboolean ddim_json_is_null(JsonObject *object, const char *key) {
  JsonNode *node = member(object, key);
  return node && JSON_NODE_HOLDS_NULL(node);
}

static gboolean type_error(const char *path, const char *key, const char *expected,
                           GError **error) {
  g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: \"%s\" must be %s", path, key, expected);
  return FALSE;
}

static gboolean node_number(JsonNode *node, double *value) {
  if (JSON_NODE_TYPE(node) != JSON_NODE_VALUE) return FALSE;
  GType type = json_node_get_value_type(node);
  if (type == G_TYPE_INT64)
    *value = (double)json_node_get_int(node);
  else if (type == G_TYPE_DOUBLE)
    *value = json_node_get_double(node);
  else
    return FALSE;
  return isfinite(*value);
}

gboolean ddim_json_get_int(JsonObject *object, const char *key, const char *path, gint64 min,
                           gint64 max, int *value, GError **error) {
  JsonNode *node = member(object, key);
  if (!node) return TRUE;
  double number;
  if (!node_number(node, &number) || number != floor(number))
    return type_error(path, key, "an integer", error);
  if (number < (double)min || number > (double)max) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                "%s: \"%s\" is %.0f; supported values are %" G_GINT64_FORMAT
                " to %" G_GINT64_FORMAT,
                path, key, number, min, max);
    return FALSE;
  }
  *value = (int)number;
  return TRUE;
}

gboolean ddim_json_get_double(JsonObject *object, const char *key, const char *path, double min,
                              double max, double *value, GError **error) {
  JsonNode *node = member(object, key);
  if (!node) return TRUE;
  double number;
  if (!node_number(node, &number)) return type_error(path, key, "a number", error);
  if (number < min || number > max) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                "%s: \"%s\" is %g; supported values are %g to %g", path, key, number, min, max);
    return FALSE;
  }
  *value = number;
  return TRUE;
}

gboolean ddim_json_get_bool(JsonObject *object, const char *key, const char *path, gboolean *value,
                            GError **error) {
  JsonNode *node = member(object, key);
  if (!node) return TRUE;
  if (JSON_NODE_TYPE(node) != JSON_NODE_VALUE || json_node_get_value_type(node) != G_TYPE_BOOLEAN)
    return type_error(path, key, "true or false", error);
  *value = json_node_get_boolean(node);
  return TRUE;
}

gboolean ddim_json_get_string(JsonObject *object, const char *key, const char *path,
                              const char **value, gboolean *is_null, GError **error) {
  JsonNode *node = member(object, key);
  if (is_null) *is_null = FALSE;
  if (!node) return TRUE;
  if (JSON_NODE_HOLDS_NULL(node)) {
    if (is_null) *is_null = TRUE;
    *value = NULL;
    return TRUE;
  }
  if (JSON_NODE_TYPE(node) != JSON_NODE_VALUE || json_node_get_value_type(node) != G_TYPE_STRING)
    return type_error(path, key, "a string", error);
  *value = json_node_get_string(node);
  return TRUE;
}
