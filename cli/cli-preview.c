/* cli-preview.c — previews of x̂_0 during a run (see cli-preview.h). */
#include "cli-preview.h"

#include "cli-args.h"
#include "cli-images.h"
#include "ddim-pixels.h"
#include "ddim-io.h"

#include <string.h>

char *cli_preview_default_path(const char *output) {
  if (output == NULL) return g_strdup("ddim-preview.png");
  /* A numbered pattern ("frame-%03d.png") names a series: drop the number. */
  CliNamePattern pattern;
  g_autofree char *name = NULL;
  if (cli_name_pattern_init(&pattern, output, NULL)) {
    name = pattern.has_conversion ? g_strconcat(pattern.prefix, pattern.suffix, NULL)
                                  : g_strdup(output);
    cli_name_pattern_clear(&pattern);
  } else {
    name = g_strdup(output);
  }
  /* Without the extension of the last component. */
  const char *slash = strrchr(name, '/');
  char *dot = strrchr(slash ? slash + 1 : name, '.');
  if (dot && dot != (slash ? slash + 1 : name)) *dot = '\0';
  size_t length = strlen(name);
  while (length > 0 && (name[length - 1] == '-' || name[length - 1] == '_')) name[--length] = '\0';
  return g_strconcat(name, "-preview.png", NULL);
}

gboolean cli_preview_init(CliPreview *preview, const char *every_text, const char *path,
                          const char *output, GError **error) {
  memset(preview, 0, sizeof *preview);
  if (every_text &&
      !cli_parse_int(every_text, "--preview-every", 0, G_MAXINT, &preview->every, error))
    return FALSE;
  if (path && every_text == NULL) preview->every = 1;
  if (preview->every == 0) return TRUE;
  preview->path = path ? g_strdup(path) : cli_preview_default_path(output);
  g_autofree char *extension = cli_extension(preview->path);
  if (strcmp(extension, "png") != 0) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "--preview: %s: previews are PNG files; use a .png name", preview->path);
    return FALSE;
  }
  /* Refused now rather than when the first preview is due. */
  if (!cli_check_output(preview->path, TRUE, 0, error)) return FALSE;
  if (!cli_name_pattern_init(&preview->pattern, preview->path, error)) return FALSE;
  preview->numbered = preview->pattern.has_conversion;
  return TRUE;
}

gboolean cli_preview_report(CliPreview *preview, const DdimProgress *report) {
  preview->evaluations++;
  if (preview->every == 0 || report->x0_pred == NULL) return TRUE;
  if (report->step % preview->every != 0 && report->step != report->total) return TRUE;
  /* A numbered name keeps every preview: the number is the evaluation's. */
  g_autofree char *path = preview->numbered
                              ? cli_name_pattern_format(&preview->pattern, preview->evaluations, 0)
                              : g_strdup(preview->path);
  DdimShape shape = report->shape;
  int channels = ddim_pixels_channels_for_model(shape.c);
  g_autoptr(DdimImage) image = ddim_image_new(shape.w, shape.h, channels, path, &preview->error);
  if (image == NULL) return FALSE;
  /* The first image of the batch; un-premultiplied like every PNG output. */
  ddim_tensor_to_pixels(report->x0_pred, shape.w, shape.h, shape.c, image->pixels);
  if (!ddim_png_write(path, image, &preview->error)) return FALSE;
  preview->written++;
  return TRUE;
}

void cli_preview_clear(CliPreview *preview) {
  g_clear_pointer(&preview->path, g_free);
  cli_name_pattern_clear(&preview->pattern);
  g_clear_error(&preview->error);
}
