/* json-util.c — validated config.json members with diffusers' semantics. */
#include "ddim.h"
#include "json-util.h"

#include <math.h>
#include <string.h>

/* Length of the first JSON value in text (which starts with '{'): a scan of
 * brackets outside strings, only to delimit it — json-glib does the parsing
 * but accepts trailing values, which safetensors forbids. Returns 0 when the
 * value does not close. */
static size_t first_value_length(const char *text, size_t length) {
  int depth = 0;
  gboolean in_string = FALSE;
  for (size_t i = 0; i < length; i++) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') i++;
      else if (c == '"') in_string = FALSE;
    } else if (c == '"') {
      in_string = TRUE;
    } else if (c == '{' || c == '[') {
      depth++;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  return 0;
}

gboolean ddim_json_read_file(const char *path, gsize max_length, char **text, gsize *length,
                             GError **error) {
  g_autoptr(GError) read_error = NULL;
  if (!g_file_get_contents(path, text, length, &read_error)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO, "%s: cannot read: %s", path, read_error->message);
    return FALSE;
  }
  if (*length > max_length) {
    g_clear_pointer(text, g_free);
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: too large for a config file", path);
    return FALSE;
  }
  return TRUE;
}

gboolean ddim_json_has_trailing_data(const char *text, size_t length) {
  size_t value_length = first_value_length(text, length);
  for (size_t i = value_length; value_length && i < length; i++)
    if (!g_ascii_isspace(text[i])) return TRUE;
  return FALSE;
}

JsonObject *ddim_json_parse_object(JsonParser *parser, const char *text, gssize length,
                                   const char *path, GError **error) {
  g_autoptr(GError) json_error = NULL;
  if (length < 0) length = (gssize)strlen(text);
  if (memchr(text, '\0', (size_t)length) || !g_utf8_validate(text, length, NULL)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: not a text file", path);
    return NULL;
  }
  if (!json_parser_load_from_data(parser, text, length, &json_error)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: not valid JSON: %s", path,
                json_error->message);
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
    if (JSON_NODE_TYPE(item) == JSON_NODE_VALUE && json_node_get_value_type(item) == G_TYPE_STRING &&
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
  if (type == G_TYPE_INT64) *value = (double)json_node_get_int(node);
  else if (type == G_TYPE_DOUBLE) *value = json_node_get_double(node);
  else return FALSE;
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
                "%s: \"%s\" is %.0f; supported values are %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT,
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

gboolean ddim_json_get_bool(JsonObject *object, const char *key, const char *path,
                            gboolean *value, GError **error) {
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
