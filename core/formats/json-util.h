/* json-util.h — the core's one JSON reader, and typed access to its members.
 *
 * Every JSON file the core reads (config.json, scheduler_config.json, shard
 * indexes, safetensors headers) goes through ddim_json_parse: a strict
 * RFC 8259 parser of our own that builds a json-glib tree.  json-glib's own
 * parser is never used on a file: it accepts comments, single quotes, hex
 * numbers, leading zeros and a byte-order mark, wraps integers beyond 64 bits,
 * cuts strings at an escaped NUL, and frees the earlier value of a duplicate
 * key while parsing.  What the tree holds has passed every check below.
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

/* Deepest nesting of objects and lists accepted.  The parser recurses once
 * per level, so a hostile file could otherwise exhaust the stack; real
 * configs nest two levels. */
#define DDIM_JSON_MAX_DEPTH 64

/* Parse `length` bytes as exactly one strict JSON value (whitespace around
 * it allowed) and return its tree, owned by the caller; NULL and a
 * DDIM_ERROR_FORMAT error otherwise, whose message is the problem and where
 * it is ("... (line L, column C)"), without a file name — the caller adds it.
 *
 * Refused, besides what is not JSON at all: text that is not UTF-8 or holds
 * a NUL byte; a byte-order mark; comments; single quotes; hexadecimal
 * numbers, leading zeros, '+', NaN and Infinity; trailing commas; control
 * characters in strings; escapes of lone surrogates; nesting deeper than
 * DDIM_JSON_MAX_DEPTH; a key twice in one object (at any depth); a key or
 * string holding U+0000 (\u0000); an integer literal outside the int64 range;
 * a number too large for a double (1e400); text after the value.
 *
 * Integer literals are kept as G_TYPE_INT64 nodes with their exact value,
 * other numbers as G_TYPE_DOUBLE — and so is "-0", as serde_json (the
 * safetensors reference) reads it: where an integer is required, -0 is
 * refused like 0.0.  The tree is sealed (read-only). */
JsonNode *ddim_json_parse(const char *text, size_t length, GError **error);

/* ddim_json_parse for a file whose top level must be an object: errors are
 * "PATH: problem".  Returns the root (the caller owns it and must keep it
 * while reading the object); *object points into it.  length < 0: text is
 * NUL-terminated. */
JsonNode *ddim_json_parse_object(const char *text, gssize length, const char *path,
                                 JsonObject **object, GError **error);

/* The only ways the core reads a number node.  _int: a JSON integer (not
 * 2.0, not -0) in [min, max]; _number: an integer or a double. */
gboolean ddim_json_node_int(JsonNode *node, gint64 min, gint64 max, gint64 *value);
gboolean ddim_json_node_number(JsonNode *node, double *value);

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
