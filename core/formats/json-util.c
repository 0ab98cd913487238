/* json-util.c — the strict JSON reader and validated config members.
 *
 * One parser serves every JSON file the core reads, so each rule below holds
 * for all of them at once (see json-util.h for the list).  It builds the
 * json-glib tree itself: json-glib's parser is lenient in ways Python's json
 * and the Rust safetensors crate are not, and a file that another reader
 * would refuse, or read differently, must not load here. */
#include "ddim.h"
#include "json-util.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* ---- The strict parser ------------------------------------------------------ */

typedef struct {
  const char *text;
  size_t length, at;
  int depth;
  /* For messages: the innermost member being read (NULL at the top), and
   * whether the value at hand is an entry of its list. */
  const char *member;
  gboolean in_list;
  GString *string; /* the string being decoded */
  GError **error;
} Parser;

/* Longest name or number quoted in a message: a hostile file may hold a
 * megabyte-long key. */
#define SHOWN_BYTES 64

/* "name", cut at a character boundary when long. */
static char *shown_name(const char *name) {
  size_t length = strlen(name);
  if (length <= SHOWN_BYTES) return g_strdup_printf("\"%s\"", name);
  const char *cut = name + SHOWN_BYTES;
  while (cut > name && ((guchar)*cut & 0xC0) == 0x80) cut--;
  return g_strdup_printf("\"%.*s…\"", (int)(cut - name), name);
}

/* A number as written in the file (ASCII), cut when long. */
static char *shown_token(const char *token, size_t length) {
  if (length <= SHOWN_BYTES) return g_strndup(token, length);
  return g_strdup_printf("%.*s…", SHOWN_BYTES, token);
}

/* What the value at hand is, for messages: "\"sample_size\"", "an entry of
 * \"shape\"". */
static char *value_name(const Parser *p) {
  if (!p->member) return g_strdup(p->in_list ? "a list entry" : "the value");
  g_autofree char *name = shown_name(p->member);
  return p->in_list ? g_strdup_printf("an entry of %s", name) : g_steal_pointer(&name);
}

static gboolean fail_at(Parser *p, size_t at, const char *format, ...) G_GNUC_PRINTF(3, 4);
static gboolean fail_at(Parser *p, size_t at, const char *format, ...) {
  va_list args;
  va_start(args, format);
  g_autofree char *problem = g_strdup_vprintf(format, args);
  va_end(args);
  /* Line and column (in characters, as an editor counts them), 1-based. */
  size_t line = 1, column = 1;
  for (size_t i = 0; i < at && i < p->length; i++) {
    if (p->text[i] == '\n') {
      line++;
      column = 1;
    } else if (((guchar)p->text[i] & 0xC0) != 0x80) {
      column++;
    }
  }
  g_set_error(p->error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s (line %zu, column %zu)", problem, line,
              column);
  return FALSE;
}

#define syntax(p, at, ...) fail_at(p, at, "not valid JSON: " __VA_ARGS__)

static gboolean is_word_char(char c) {
  return g_ascii_isalnum(c) || c == '_';
}

/* The text at p->at where `expected` should be.  The extensions other
 * parsers accept are named, so the message says why the file is refused. */
static gboolean unexpected(Parser *p, const char *expected) {
  const char *s = p->text + p->at;
  size_t left = p->length - p->at;
  if (left == 0) return syntax(p, p->at, "the text ends where %s should be", expected);
  if (left >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
    return syntax(p, p->at, "a byte-order mark (U+FEFF)");
  if (left >= 2 && (memcmp(s, "//", 2) == 0 || memcmp(s, "/*", 2) == 0))
    return syntax(p, p->at, "a comment (JSON has none)");
  if (*s == '\'') return syntax(p, p->at, "a single-quoted string (JSON strings use \")");
  if (*s == '+') return syntax(p, p->at, "a number with a '+' sign");
  if (*s == '.') return syntax(p, p->at, "a number without a digit before its decimal point");
  if (g_ascii_isalpha(*s) || *s == '_') {
    size_t length = 1;
    while (length < left && is_word_char(s[length])) length++;
    g_autofree char *word = shown_token(s, length);
    if (strcmp(word, "NaN") == 0 || strcmp(word, "Infinity") == 0)
      return syntax(p, p->at, "%s (JSON numbers are finite)", word);
    return syntax(p, p->at, "the word '%s' where %s should be%s", word, expected,
                  strcmp(expected, "a value") == 0 ? " (JSON has true, false and null)" : "");
  }
  gunichar c = g_utf8_get_char(s); /* the text is valid UTF-8 */
  if (c >= 0x20 && c < 0x7F) return syntax(p, p->at, "'%c' where %s should be", (char)c, expected);
  return syntax(p, p->at, "U+%04X where %s should be", (unsigned)c, expected);
}

static void skip_space(Parser *p) {
  while (p->at < p->length) {
    char c = p->text[p->at];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
    p->at++;
  }
}

static gboolean next_is(Parser *p, char c) {
  return p->at < p->length && p->text[p->at] == c;
}

static gboolean hex4(const Parser *p, size_t at, gunichar *value) {
  if (at > p->length || p->length - at < 4) return FALSE;
  *value = 0;
  for (size_t i = 0; i < 4; i++) {
    int digit = g_ascii_xdigit_value(p->text[at + i]);
    if (digit < 0) return FALSE;
    *value = *value * 16 + (gunichar)digit;
  }
  return TRUE;
}

/* The string at p->at (its opening quote), decoded into p->string. */
static gboolean parse_string(Parser *p, gboolean is_key) {
  const size_t start = p->at++;
  g_string_truncate(p->string, 0);
  for (;;) {
    size_t run = p->at;
    while (p->at < p->length) {
      guchar c = (guchar)p->text[p->at];
      if (c == '"' || c == '\\' || c < 0x20) break;
      p->at++;
    }
    g_string_append_len(p->string, p->text + run, (gssize)(p->at - run));
    if (p->at >= p->length) return syntax(p, start, "a string that is not closed");
    guchar c = (guchar)p->text[p->at];
    if (c == '"') {
      p->at++;
      return TRUE;
    }
    if (c < 0x20)
      return syntax(p, p->at, "a control character (U+%04X) in a string, not escaped", c);
    /* A backslash. */
    const size_t escape = p->at;
    char kind = escape + 1 < p->length ? p->text[escape + 1] : '\0';
    static const char plain[] = "\"\\/bfnrt", decoded[] = "\"\\/\b\f\n\r\t";
    const char *simple = kind ? strchr(plain, kind) : NULL;
    if (simple) {
      g_string_append_c(p->string, decoded[simple - plain]);
      p->at += 2;
      continue;
    }
    if (kind != 'u') {
      if (kind >= 0x20 && kind < 0x7F)
        return syntax(p, escape, "an invalid escape '\\%c' in a string", kind);
      return syntax(p, escape, "an invalid escape in a string");
    }
    gunichar u;
    if (!hex4(p, escape + 2, &u))
      return syntax(p, escape, "a \\u escape without four hexadecimal digits");
    p->at = escape + 6;
    if (u >= 0xD800 && u <= 0xDBFF) {
      /* A UTF-16 pair: \uD83D\uDE00. */
      gunichar low;
      if (p->at + 1 < p->length && p->text[p->at] == '\\' && p->text[p->at + 1] == 'u' &&
          hex4(p, p->at + 2, &low) && low >= 0xDC00 && low <= 0xDFFF) {
        u = 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00);
        p->at += 6;
      } else {
        return syntax(p, escape, "an escaped lone surrogate \\u%04X (not a character)",
                      (unsigned)u);
      }
    } else if (u >= 0xDC00 && u <= 0xDFFF) {
      return syntax(p, escape, "an escaped lone surrogate \\u%04X (not a character)", (unsigned)u);
    }
    if (u == 0) {
      /* C strings end at a NUL: "F32\u0000x" would read as "F32", and two
       * names that differ after the NUL as one. */
      if (is_key) return fail_at(p, escape, "a key holds an escaped NUL character (\\u0000)");
      g_autofree char *what = value_name(p);
      return fail_at(p, escape, "%s holds an escaped NUL character (\\u0000)", what);
    }
    g_string_append_unichar(p->string, u);
  }
}

/* A number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? and nothing else. */
static JsonNode *parse_number(Parser *p) {
  const char *s = p->text;
  const size_t n = p->length, start = p->at;
  size_t i = start;
  const gboolean negative = s[i] == '-';
  if (negative) i++;
  if (i >= n || !g_ascii_isdigit(s[i])) {
    if (n - i >= 8 && memcmp(s + i, "Infinity", 8) == 0)
      syntax(p, start, "-Infinity (JSON numbers are finite)");
    else
      syntax(p, start, "a '-' not followed by a digit");
    return NULL;
  }
  if (s[i] == '0' && i + 1 < n && g_ascii_isdigit(s[i + 1])) {
    syntax(p, start, "a number with a leading zero");
    return NULL;
  }
  if (s[i] == '0' && i + 1 < n && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
    syntax(p, start, "a hexadecimal number");
    return NULL;
  }
  guint64 magnitude = 0;
  gboolean beyond_64_bits = FALSE;
  for (; i < n && g_ascii_isdigit(s[i]); i++) {
    guint digit = (guint)(s[i] - '0');
    if (magnitude > (G_MAXUINT64 - digit) / 10)
      beyond_64_bits = TRUE;
    else
      magnitude = magnitude * 10 + digit;
  }
  gboolean integer = TRUE;
  if (i < n && s[i] == '.') {
    integer = FALSE;
    if (++i >= n || !g_ascii_isdigit(s[i])) {
      syntax(p, start, "a number without a digit after its decimal point");
      return NULL;
    }
    while (i < n && g_ascii_isdigit(s[i])) i++;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    integer = FALSE;
    if (++i < n && (s[i] == '+' || s[i] == '-')) i++;
    if (i >= n || !g_ascii_isdigit(s[i])) {
      syntax(p, start, "a number without a digit in its exponent");
      return NULL;
    }
    while (i < n && g_ascii_isdigit(s[i])) i++;
  }
  p->at = i;
  /* "-0" is read as a double, as serde_json does: where the safetensors
   * crate wants a count it refuses it, and so do the integer getters here. */
  if (integer && !(negative && magnitude == 0 && !beyond_64_bits)) {
    /* json-glib wraps these around 64 bits: -18446744073709551608 was 8. */
    const guint64 limit = negative ? (guint64)G_MAXINT64 + 1 : (guint64)G_MAXINT64;
    if (beyond_64_bits || magnitude > limit) {
      g_autofree char *what = value_name(p), *token = shown_token(s + start, i - start);
      fail_at(p, start, "%s is %s, outside the range of a 64-bit integer", what, token);
      return NULL;
    }
    gint64 value = !negative            ? (gint64)magnitude
                   : magnitude == limit ? G_MININT64
                                        : -(gint64)magnitude;
    return json_node_init_int(json_node_alloc(), value);
  }
  g_autofree char *token = g_strndup(s + start, i - start);
  double value = g_ascii_strtod(token, NULL);
  if (!isfinite(value)) {
    g_autofree char *what = value_name(p), *shown = shown_token(token, i - start);
    fail_at(p, start, "%s is %s, too large for a 64-bit float", what, shown);
    return NULL;
  }
  return json_node_init_double(json_node_alloc(), value);
}

static JsonNode *parse_value(Parser *p);

static gboolean enter(Parser *p) {
  if (p->depth >= DDIM_JSON_MAX_DEPTH)
    return fail_at(p, p->at, "the JSON is nested more than %d levels deep", DDIM_JSON_MAX_DEPTH);
  p->depth++;
  return TRUE;
}

static JsonNode *parse_object(Parser *p) {
  if (!enter(p)) return NULL;
  p->at++; /* '{' */
  JsonObject *object = json_object_new();
  const char *outer_member = p->member;
  const gboolean outer_in_list = p->in_list;
  gboolean ok = TRUE;
  skip_space(p);
  if (next_is(p, '}')) {
    p->at++;
  } else {
    for (gboolean first = TRUE;; first = FALSE) {
      skip_space(p);
      if (!next_is(p, '"')) {
        ok = !first && next_is(p, '}') ? syntax(p, p->at, "a comma before '}'")
                                       : unexpected(p, "a key in double quotes");
        break;
      }
      const size_t key_at = p->at;
      if (!(ok = parse_string(p, TRUE))) break;
      g_autofree char *key = g_strdup(p->string->str);
      /* Refused, not replaced: a file that says two things is ambiguous, and
       * json-glib would free the first value.  The object is looked up by
       * the decoded key, so "a" and "\u0061" are the same name. */
      if (json_object_has_member(object, key)) {
        g_autofree char *name = shown_name(key);
        ok = fail_at(p, key_at, "%s appears twice in one object", name);
        break;
      }
      skip_space(p);
      if (!next_is(p, ':')) {
        ok = unexpected(p, "':'");
        break;
      }
      p->at++;
      p->member = key;
      p->in_list = FALSE;
      JsonNode *value = parse_value(p);
      p->member = outer_member;
      p->in_list = outer_in_list;
      if (!value) {
        ok = FALSE;
        break;
      }
      json_object_set_member(object, key, value);
      skip_space(p);
      if (next_is(p, ',')) {
        p->at++;
        continue;
      }
      if (next_is(p, '}')) {
        p->at++;
        break;
      }
      ok = unexpected(p, "',' or '}'");
      break;
    }
  }
  p->depth--;
  if (!ok) {
    json_object_unref(object);
    return NULL;
  }
  JsonNode *node = json_node_init_object(json_node_alloc(), object);
  json_object_unref(object);
  return node;
}

static JsonNode *parse_array(Parser *p) {
  if (!enter(p)) return NULL;
  p->at++; /* '[' */
  JsonArray *array = json_array_new();
  const gboolean outer_in_list = p->in_list;
  gboolean ok = TRUE;
  skip_space(p);
  if (next_is(p, ']')) {
    p->at++;
  } else {
    p->in_list = TRUE;
    for (gboolean first = TRUE;; first = FALSE) {
      skip_space(p);
      if (!first && next_is(p, ']')) {
        ok = syntax(p, p->at, "a comma before ']'");
        break;
      }
      JsonNode *value = parse_value(p);
      if (!value) {
        ok = FALSE;
        break;
      }
      json_array_add_element(array, value);
      skip_space(p);
      if (next_is(p, ',')) {
        p->at++;
        continue;
      }
      if (next_is(p, ']')) {
        p->at++;
        break;
      }
      ok = unexpected(p, "',' or ']'");
      break;
    }
    p->in_list = outer_in_list;
  }
  p->depth--;
  if (!ok) {
    json_array_unref(array);
    return NULL;
  }
  JsonNode *node = json_node_init_array(json_node_alloc(), array);
  json_array_unref(array);
  return node;
}

/* true, false or null, not followed by more letters ("nullx", "trueish"). */
static JsonNode *parse_literal(Parser *p) {
  static const char *const words[] = {"true", "false", "null"};
  for (int w = 0; w < 3; w++) {
    size_t length = strlen(words[w]);
    if (p->length - p->at >= length && memcmp(p->text + p->at, words[w], length) == 0 &&
        !(p->length - p->at > length && is_word_char(p->text[p->at + length]))) {
      p->at += length;
      return w == 2 ? json_node_init_null(json_node_alloc())
                    : json_node_init_boolean(json_node_alloc(), w == 0);
    }
  }
  unexpected(p, "a value");
  return NULL;
}

static JsonNode *parse_value(Parser *p) {
  skip_space(p);
  char c = p->at < p->length ? p->text[p->at] : '\0';
  if (c == '{') return parse_object(p);
  if (c == '[') return parse_array(p);
  if (c == '"') {
    if (!parse_string(p, FALSE)) return NULL;
    return json_node_init_string(json_node_alloc(), p->string->str);
  }
  if (c == '-' || g_ascii_isdigit(c)) return parse_number(p);
  if (c == 't' || c == 'f' || c == 'n') return parse_literal(p);
  unexpected(p, "a value");
  return NULL;
}

JsonNode *ddim_json_parse(const char *text, size_t length, GError **error) {
  Parser p = {.text = text, .length = length, .error = error};
  const char *nul = memchr(text, '\0', length);
  if (nul) {
    fail_at(&p, (size_t)(nul - text), "not a text file: a NUL byte");
    return NULL;
  }
  const char *bad = NULL;
  if (!g_utf8_validate(text, (gssize)length, &bad)) {
    fail_at(&p, (size_t)(bad - text), "not a text file: not UTF-8");
    return NULL;
  }
  skip_space(&p);
  if (p.at == length) {
    syntax(&p, p.at, "no value (the text is empty or blank)");
    return NULL;
  }
  p.string = g_string_new(NULL);
  JsonNode *root = parse_value(&p);
  g_string_free(p.string, TRUE);
  if (!root) return NULL;
  skip_space(&p);
  if (p.at < length) {
    fail_at(&p, p.at, "text follows the JSON value");
    json_node_unref(root);
    return NULL;
  }
  /* Read-only from here, as json_parser_new_immutable made it. */
  json_node_seal(root);
  return root;
}

JsonNode *ddim_json_parse_object(const char *text, gssize length, const char *path,
                                 JsonObject **object, GError **error) {
  g_autoptr(GError) problem = NULL;
  size_t size = length < 0 ? strlen(text) : (size_t)length;
  g_autoptr(JsonNode) root = ddim_json_parse(text, size, &problem);
  if (!root) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: %s", path, problem->message);
    return NULL;
  }
  if (!JSON_NODE_HOLDS_OBJECT(root)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: the JSON is not an object", path);
    return NULL;
  }
  *object = json_node_get_object(root);
  return g_steal_pointer(&root);
}

gboolean ddim_json_node_int(JsonNode *node, gint64 min, gint64 max, gint64 *value) {
  if (!node || JSON_NODE_TYPE(node) != JSON_NODE_VALUE ||
      json_node_get_value_type(node) != G_TYPE_INT64)
    return FALSE;
  gint64 v = json_node_get_int(node);
  if (v < min || v > max) return FALSE;
  *value = v;
  return TRUE;
}

/* ---- Members ---------------------------------------------------------------- */

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

/* A double as short as it can be written and still read back the same
 * (2.5, not 2.5000000000000000), and never like an integer: a message that
 * refuses 3.0 where an integer is required must not say "3". */
static void format_double(char *buffer, size_t size, double value) {
  g_ascii_formatd(buffer, (gint)size, "%.15g", value);
  if (g_ascii_strtod(buffer, NULL) != value) g_ascii_formatd(buffer, (gint)size, "%.17g", value);
  if (strspn(buffer, "-0123456789") == strlen(buffer)) g_strlcat(buffer, ".0", size);
}

static gboolean type_error(JsonNode *node, const char *path, const char *key, const char *expected,
                           GError **error) {
  /* A number where an integer is wanted: say which ("3.0", "-0"). */
  if (JSON_NODE_TYPE(node) == JSON_NODE_VALUE && json_node_get_value_type(node) == G_TYPE_DOUBLE) {
    char number[G_ASCII_DTOSTR_BUF_SIZE];
    format_double(number, sizeof number, json_node_get_double(node));
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: \"%s\" must be %s, not %s", path, key,
                expected, number);
    return FALSE;
  }
  g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: \"%s\" must be %s", path, key, expected);
  return FALSE;
}

gboolean ddim_json_node_number(JsonNode *node, double *value) {
  if (!node || JSON_NODE_TYPE(node) != JSON_NODE_VALUE) return FALSE;
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
  gint64 number;
  if (!ddim_json_node_int(node, G_MININT64, G_MAXINT64, &number))
    return type_error(node, path, key, "an integer", error);
  if (number < min || number > max) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                "%s: \"%s\" is %" G_GINT64_FORMAT "; supported values are %" G_GINT64_FORMAT
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
  if (!ddim_json_node_number(node, &number)) return type_error(node, path, key, "a number", error);
  if (number < min || number > max) {
    char shown[G_ASCII_DTOSTR_BUF_SIZE];
    format_double(shown, sizeof shown, number);
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                "%s: \"%s\" is %s; supported values are %g to %g", path, key, shown, min, max);
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
    return type_error(node, path, key, "true or false", error);
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
    return type_error(node, path, key, "a string", error);
  *value = json_node_get_string(node);
  return TRUE;
}
