/* cli-args.h — parsing of command-line values and output name patterns.
 *
 * Every parser fails with a DDIM_ERROR_INVALID_ARGUMENT message that names
 * the option and the value, e.g. "--steps: 'x' is not an integer". */
#ifndef DDIM_CLI_ARGS_H
#define DDIM_CLI_ARGS_H

#include "ddim.h"

G_BEGIN_DECLS

gboolean cli_parse_int(const char *text, const char *option, gint64 min, gint64 max, int *value,
                       GError **error);
gboolean cli_parse_double(const char *text, const char *option, double min, double max,
                          double *value, GError **error);
gboolean cli_parse_uint64(const char *text, const char *option, guint64 *value, GError **error);
/* "WxH" (also "W×H" and upper-case X), both at least 1. */
gboolean cli_parse_size(const char *text, const char *option, int *width, int *height,
                        GError **error);
/* Bytes with an optional binary suffix: 512M, 2G, 1.5GiB, 4096. */
gboolean cli_parse_memory(const char *text, const char *option, guint64 *bytes, GError **error);

/* An output name for one or many files.  OUT may hold one printf-style
 * integer conversion (%d, %5d, %03d; %% is a literal %) that receives the
 * image index; without one, a series of files gets "-%03d" inserted before
 * the extension, and a single file uses OUT unchanged. */
typedef struct {
  char *literal; /* OUT as given */
  gboolean has_conversion;
  char *prefix, *suffix; /* around the number, %% already unescaped */
  int width;             /* minimum digits */
  gboolean zero_pad;
} CliNamePattern;

gboolean cli_name_pattern_init(CliNamePattern *pattern, const char *out, GError **error);
void cli_name_pattern_clear(CliNamePattern *pattern);
/* The file name of image `index` of `count`. */
char *cli_name_pattern_format(const CliNamePattern *pattern, int index, int count);

/* The extension of a name (after the last '.' of its last component),
 * lower-cased; "" when there is none. */
char *cli_extension(const char *path);

G_END_DECLS

#endif /* DDIM_CLI_ARGS_H */
