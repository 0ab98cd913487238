/* cli-args.c — parsing of command-line values and output name patterns. */
#include "cli-args.h"

#include <math.h>
#include <string.h>

/* Field widths beyond this are surely a typo, and keep names bounded. */
#define MAX_PATTERN_WIDTH 9

static void invalid(GError **error, const char *option, const char *format, ...)
    G_GNUC_PRINTF(3, 4);

static void invalid(GError **error, const char *option, const char *format, ...) {
  va_list args;
  va_start(args, format);
  g_autofree char *message = g_strdup_vprintf(format, args);
  va_end(args);
  g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT, "%s: %s", option, message);
}

gboolean cli_parse_int(const char *text, const char *option, gint64 min, gint64 max, int *value,
                       GError **error) {
  gint64 number;
  if (!g_ascii_string_to_signed(text, 10, G_MININT64, G_MAXINT64, &number, NULL)) {
    invalid(error, option, "'%s' is not an integer", text);
    return FALSE;
  }
  if (number < min || number > max) {
    if (max >= G_MAXINT)
      invalid(error, option, "%s is out of range (at least %" G_GINT64_FORMAT ")", text, min);
    else
      invalid(error, option, "%s is out of range (%" G_GINT64_FORMAT " to %" G_GINT64_FORMAT ")",
              text, min, max);
    return FALSE;
  }
  *value = (int)number;
  return TRUE;
}

gboolean cli_parse_double(const char *text, const char *option, double min, double max,
                          double *value, GError **error) {
  char *end = NULL;
  double number = g_ascii_strtod(text, &end);
  if (end == text || *end != '\0' || g_ascii_isspace(text[0]) || !isfinite(number)) {
    invalid(error, option, "'%s' is not a number", text);
    return FALSE;
  }
  if (number < min || number > max) {
    char low[G_ASCII_DTOSTR_BUF_SIZE], high[G_ASCII_DTOSTR_BUF_SIZE];
    g_ascii_formatd(low, sizeof low, "%g", min);
    g_ascii_formatd(high, sizeof high, "%g", max);
    if (isinf(max))
      invalid(error, option, "%s is out of range (at least %s)", text, low);
    else
      invalid(error, option, "%s is out of range (%s to %s)", text, low, high);
    return FALSE;
  }
  *value = number;
  return TRUE;
}

gboolean cli_parse_uint64(const char *text, const char *option, guint64 *value, GError **error) {
  guint64 number;
  if (!g_ascii_string_to_unsigned(text, 10, 0, G_MAXUINT64, &number, NULL)) {
    invalid(error, option, "'%s' is not a non-negative integer below 2^64", text);
    return FALSE;
  }
  *value = number;
  return TRUE;
}

gboolean cli_parse_size(const char *text, const char *option, int *width, int *height,
                        GError **error) {
  const char *separator = NULL;
  gsize separator_bytes = 1;
  for (const char *p = text; *p && !separator; p++) {
    if (*p == 'x' || *p == 'X') {
      separator = p;
    } else if (g_str_has_prefix(p, "\xc3\x97")) { /* × */
      separator = p;
      separator_bytes = 2;
    }
  }
  gint64 w = 0, h = 0;
  g_autofree char *width_text = separator ? g_strndup(text, separator - text) : NULL;
  if (width_text == NULL || !g_ascii_string_to_signed(width_text, 10, 1, G_MAXINT, &w, NULL) ||
      !g_ascii_string_to_signed(separator + separator_bytes, 10, 1, G_MAXINT, &h, NULL)) {
    invalid(error, option, "'%s' is not a size like 32x32 (width x height)", text);
    return FALSE;
  }
  *width = (int)w;
  *height = (int)h;
  return TRUE;
}

gboolean cli_parse_memory(const char *text, const char *option, guint64 *bytes, GError **error) {
  static const struct {
    const char *suffix;
    int shift;
  } units[] = {
      {"", 0},     {"b", 0},  {"k", 10},  {"kb", 10},  {"kib", 10}, {"m", 20},  {"mb", 20},
      {"mib", 20}, {"g", 30}, {"gb", 30}, {"gib", 30}, {"t", 40},   {"tb", 40}, {"tib", 40},
  };
  char *end = NULL;
  double number = g_ascii_strtod(text, &end);
  if (end == text || g_ascii_isspace(text[0]) || !isfinite(number) || number <= 0) goto bad;
  while (*end == ' ') end++;
  for (guint i = 0; i < G_N_ELEMENTS(units); i++) {
    if (g_ascii_strcasecmp(end, units[i].suffix) != 0) continue;
    double value = ldexp(number, units[i].shift);
    if (value < 1.0 || value >= 0x1p63) goto bad;
    *bytes = (guint64)value;
    return TRUE;
  }
bad:
  invalid(error, option, "'%s' is not a memory size like 512M or 2G", text);
  return FALSE;
}

char *cli_extension(const char *path) {
  const char *base = strrchr(path, G_DIR_SEPARATOR);
  base = base ? base + 1 : path;
  const char *dot = strrchr(base, '.');
  if (dot == NULL || dot == base) return g_strdup("");
  return g_ascii_strdown(dot + 1, -1);
}

gboolean cli_name_pattern_init(CliNamePattern *pattern, const char *out, GError **error) {
  memset(pattern, 0, sizeof *pattern);
  g_autoptr(GString) prefix = g_string_new(NULL);
  g_autoptr(GString) suffix = g_string_new(NULL);
  GString *current = prefix;
  for (const char *p = out; *p;) {
    if (p[0] != '%') {
      g_string_append_c(current, *p++);
      continue;
    }
    if (p[1] == '%') {
      g_string_append_c(current, '%');
      p += 2;
      continue;
    }
    /* %[0][width]d or %[0][width]i; anything else is kept literally. */
    const char *q = p + 1;
    gboolean zero_pad = *q == '0';
    if (zero_pad) q++;
    int width = 0;
    while (g_ascii_isdigit(*q) && width <= MAX_PATTERN_WIDTH) width = width * 10 + (*q++ - '0');
    if (*q != 'd' && *q != 'i') {
      g_string_append_c(current, *p++);
      continue;
    }
    if (width > MAX_PATTERN_WIDTH) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                  "%s: the number's width may be at most %d digits", out, MAX_PATTERN_WIDTH);
      return FALSE;
    }
    if (pattern->has_conversion) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                  "%s: an output name may hold only one %%d for the image number", out);
      return FALSE;
    }
    pattern->has_conversion = TRUE;
    pattern->zero_pad = zero_pad;
    pattern->width = width;
    current = suffix;
    p = q + 1;
  }
  pattern->literal = g_strdup(out);
  if (pattern->has_conversion) {
    pattern->prefix = g_string_free(g_steal_pointer(&prefix), FALSE);
    pattern->suffix = g_string_free(g_steal_pointer(&suffix), FALSE);
    return TRUE;
  }
  /* No conversion: a series is named OUT with -000, -001, … before the
   * extension. */
  const char *base = strrchr(out, G_DIR_SEPARATOR);
  base = base ? base + 1 : out;
  const char *dot = strrchr(base, '.');
  if (dot == NULL || dot == base) dot = out + strlen(out);
  pattern->prefix = g_strdup_printf("%.*s-", (int)(dot - out), out);
  pattern->suffix = g_strdup(dot);
  pattern->width = 3;
  pattern->zero_pad = TRUE;
  return TRUE;
}

void cli_name_pattern_clear(CliNamePattern *pattern) {
  g_clear_pointer(&pattern->literal, g_free);
  g_clear_pointer(&pattern->prefix, g_free);
  g_clear_pointer(&pattern->suffix, g_free);
}

char *cli_name_pattern_format(const CliNamePattern *pattern, int index, int count) {
  if (!pattern->has_conversion && count == 1) return g_strdup(pattern->literal);
  if (pattern->zero_pad)
    return g_strdup_printf("%s%0*d%s", pattern->prefix, pattern->width, index, pattern->suffix);
  return g_strdup_printf("%s%*d%s", pattern->prefix, pattern->width, index, pattern->suffix);
}
