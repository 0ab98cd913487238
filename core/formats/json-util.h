/* json-util.h — typed, validated access to JSON config members (json-glib).
 *
 * Each getter returns TRUE and leaves *value alone when the key is absent
 * (the caller's default applies), stores the value when it has the right
 * type, and fails with a message naming the file and the key otherwise. */
#ifndef DDIM_JSON_UTIL_H
#define DDIM_JSON_UTIL_H

#include <json-glib/json-glib.h>

/* Read a config file of at most max_length bytes (errors name the file). */
gboolean ddim_json_read_file(const char *path, gsize max_length, char **text, gsize *length,
                             GError **error);

/* TRUE when something other than whitespace follows the first JSON value
 * (json-glib accepts several top-level values; our formats do not). */
gboolean ddim_json_has_trailing_data(const char *text, size_t length);

/* Deepest nesting of objects and lists accepted: json-glib's parser
 * recurses once per level, so a hostile file could otherwise exhaust the
 * stack.  Real configs nest two levels. */
#define DDIM_JSON_MAX_DEPTH 64
gboolean ddim_json_too_deep(const char *text, size_t length);

/* Count the members of every object `parser` parses (json-glib keeps only
 * the last of duplicates); after parsing, whether some object had a name
 * twice.  The table must outlive the parse. */
GHashTable *ddim_json_count_members(JsonParser *parser);
gboolean ddim_json_has_duplicate_member(GHashTable *counts);

/* Parse text as one JSON object: refuses non-UTF-8, NUL bytes, nesting
 * deeper than DDIM_JSON_MAX_DEPTH, duplicate keys and trailing data. */
JsonObject *ddim_json_parse_object(JsonParser *parser, const char *text, gssize length,
                                   const char *path, GError **error);
gboolean ddim_json_uses_default(JsonObject *object, const char *key);
gboolean ddim_json_get_int(JsonObject *object, const char *key, const char *path, gint64 min,
                           gint64 max, int *value, GError **error);
gboolean ddim_json_get_double(JsonObject *object, const char *key, const char *path, double min,
                              double max, double *value, GError **error);
gboolean ddim_json_get_bool(JsonObject *object, const char *key, const char *path, gboolean *value,
                            GError **error);
/* *value is owned by the object; NULL when the member is JSON null. */
gboolean ddim_json_get_string(JsonObject *object, const char *key, const char *path,
                              const char **value, gboolean *is_null, GError **error);
/* A member is present, not null, and not listed in _use_default_values. */
gboolean ddim_json_has(JsonObject *object, const char *key);
gboolean ddim_json_is_null(JsonObject *object, const char *key);

#endif
