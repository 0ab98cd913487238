/* run-view.c — the running state of a procedure dialog (see run-view.h).
 *
 * The dialog is GIMP's own GimpProcedureDialog, still open after OK
 * (gimp_procedure_dialog_run returns on the response and leaves it shown):
 * its parameter widgets are made insensitive, OK and Reset too, and a box
 * with the preview is packed below them.  The preview is a GimpPreviewArea,
 * which composites RGBA over a checkerboard and makes no PDB call; it forgets
 * its pixels on every resize, so the last frame is kept and drawn again. */
#include "run-view.h"

#include "dialog-common.h"
#include "preview-image.h"

#include <glib/gi18n.h>
#include <stdlib.h>
#include <string.h>

/* The preview fits in this square; small models are enlarged by a whole
 * factor (16×16 → 256×256). */
#define PREVIEW_SIDE 256
#define STRIP_SIDE 64
/* The strip shows at most this many images. */
#define STRIP_MAX 32

typedef struct {
  GtkWidget *area;
  PreviewImage *image; /* the last drawn, for redraws after a resize */
} Picture;

struct RunView {
  GtkWidget *dialog;
  DdimWorkflow kind;
  GtkWidget *box, *caption, *bar, *time_left, *strip_label;
  Picture main;
  Picture *strip;
  int strip_count, strip_done, outputs;
  gulong response_handler, delete_handler;
  void (*on_cancel)(gpointer);
  gpointer data;
  gboolean cancelling;
  /* Test hook (DDIM_PLUGIN_TEST_PRESS, see test_press): what to press, when. */
  char *test_action;
  int test_at;
};

static GimpImageType image_type(const PreviewImage *image) {
  switch (image->channels) {
  case 1:
    return GIMP_GRAY_IMAGE;
  case 4:
    return GIMP_RGBA_IMAGE;
  }
  return GIMP_RGB_IMAGE;
}

static void picture_draw(Picture *picture) {
  const PreviewImage *image = picture->image;
  if (image == NULL) return;
  int width = 0, height = 0;
  gimp_preview_area_get_size(GIMP_PREVIEW_AREA(picture->area), &width, &height);
  /* Centred in the area. */
  int x = MAX((width - image->width) / 2, 0), y = MAX((height - image->height) / 2, 0);
  gimp_preview_area_fill(GIMP_PREVIEW_AREA(picture->area), 0, 0, width, height, 0x80, 0x80, 0x80);
  gimp_preview_area_draw(GIMP_PREVIEW_AREA(picture->area), x, y, image->width, image->height,
                         image_type(image), image->pixels, image->width * image->channels);
}

static void on_area_allocate(GtkWidget *widget, GdkRectangle *allocation, gpointer data) {
  (void)widget;
  (void)allocation;
  picture_draw(data);
}

static void picture_init(Picture *picture, int width, int height) {
  picture->area = gimp_preview_area_new();
  gtk_widget_set_size_request(picture->area, width, height);
  gtk_widget_set_halign(picture->area, GTK_ALIGN_CENTER);
  g_signal_connect_after(picture->area, "size-allocate", G_CALLBACK(on_area_allocate), picture);
}

static void picture_set(Picture *picture, const PreviewImage *image) {
  preview_image_free(picture->image);
  picture->image = g_new(PreviewImage, 1);
  *picture->image = *image;
  picture->image->pixels =
      g_memdup2(image->pixels, (gsize)image->width * image->height * image->channels);
  picture_draw(picture);
}

static void request_cancel(RunView *view) {
  if (view->cancelling) return;
  view->cancelling = TRUE;
  GtkWidget *cancel =
      gtk_dialog_get_widget_for_response(GTK_DIALOG(view->dialog), GTK_RESPONSE_CANCEL);
  if (cancel) {
    gtk_widget_set_sensitive(cancel, FALSE);
    gtk_button_set_label(GTK_BUTTON(cancel), _("Cancelling..."));
  }
  gtk_label_set_text(GTK_LABEL(view->time_left), _("Stopping..."));
  view->on_cancel(view->data);
}

static void on_response(GtkDialog *dialog, gint response, gpointer data) {
  (void)dialog;
  if (response == GTK_RESPONSE_CANCEL || response == GTK_RESPONSE_DELETE_EVENT)
    request_cancel(data);
}

static gboolean on_delete(GtkWidget *widget, GdkEvent *event, gpointer data) {
  (void)widget;
  (void)event;
  /* Closing the window while running is Cancel; the dialog stays until the
   * worker has stopped. */
  request_cancel(data);
  return TRUE;
}

/* Greys out everything but `keep` and the containers on its way: the
 * parameters, OK, Reset, Help and the settings buttons. */
static void freeze_all_but(GtkWidget *widget, GtkWidget *keep) {
  if (widget == keep) return;
  if (!gtk_widget_is_ancestor(keep, widget)) {
    gtk_widget_set_sensitive(widget, FALSE);
    return;
  }
  GList *children = gtk_container_get_children(GTK_CONTAINER(widget));
  for (GList *child = children; child; child = child->next) freeze_all_but(child->data, keep);
  g_list_free(children);
}

static void freeze_parameters(RunView *view) {
  GtkWidget *cancel =
      gtk_dialog_get_widget_for_response(GTK_DIALOG(view->dialog), GTK_RESPONSE_CANCEL);
  GtkWidget *top = gtk_bin_get_child(GTK_BIN(view->dialog));
  if (cancel && top) {
    freeze_all_but(top, cancel);
    /* Keyboard focus on Cancel: Escape and Return both cancel. */
    gtk_widget_grab_focus(cancel);
  } else {
    gtk_widget_set_sensitive(gtk_dialog_get_content_area(GTK_DIALOG(view->dialog)), FALSE);
  }
}

/* For the GIMP dialog test: DDIM_PLUGIN_TEST_PRESS holds words
 * "PROCEDURE=cancel@N" (click the Cancel button) or "PROCEDURE=close@N"
 * (close the window: the delete-event a window manager sends), PROCEDURE
 * being generate, reconstruct, vary, interpolate, encode or decode; the
 * press comes once evaluation N has been shown.  They emit the signals a
 * user's click or close emits; the test then checks what those did. */
static void test_press(RunView *view, int done) {
  if (view->test_action == NULL || view->cancelling || done < view->test_at) return;
  if (g_strcmp0(view->test_action, "cancel") == 0) {
    GtkWidget *cancel =
        gtk_dialog_get_widget_for_response(GTK_DIALOG(view->dialog), GTK_RESPONSE_CANCEL);
    if (cancel) gtk_button_clicked(GTK_BUTTON(cancel));
  } else if (g_strcmp0(view->test_action, "close") == 0) {
    gtk_window_close(GTK_WINDOW(view->dialog));
  }
  g_clear_pointer(&view->test_action, g_free);
}

static void read_test_press(RunView *view) {
  const char *press = g_getenv("DDIM_PLUGIN_TEST_PRESS");
  if (press == NULL) return;
  g_auto(GStrv) words = g_strsplit(press, " ", -1);
  g_autofree char *prefix = g_strconcat(ddim_workflow_name(view->kind), "=", NULL);
  for (int i = 0; words[i]; i++) {
    const char *at = strchr(words[i], '@');
    if (!g_str_has_prefix(words[i], prefix) || at == NULL) continue;
    const char *action = words[i] + strlen(prefix);
    view->test_action = g_strndup(action, (gsize)(at - action));
    view->test_at = MAX(atoi(at + 1), 1);
  }
}

RunView *run_view_new(GtkWidget *dialog, DdimWorkflow kind, DdimShape image, int outputs,
                      void (*on_cancel)(gpointer data), gpointer data) {
  RunView *view = g_new0(RunView, 1);
  view->dialog = dialog;
  view->kind = kind;
  view->on_cancel = on_cancel;
  view->data = data;
  view->outputs = outputs;
  freeze_parameters(view);
  read_test_press(view);
  /* While it runs, the dialog shows the run, not the parameters (greyed out
   * anyway): so that it keeps its size, and its progress and Cancel stay on
   * a 1366×768 screen. */
  GtkWidget *content = gtk_dialog_get_content_area(GTK_DIALOG(dialog));
  GtkWidget *cancel = gtk_dialog_get_widget_for_response(GTK_DIALOG(dialog), GTK_RESPONSE_CANCEL);
  g_autoptr(GList) parameters = gtk_container_get_children(GTK_CONTAINER(content));
  for (GList *item = parameters; item; item = item->next)
    /* GTK 3 packs the dialog's buttons into the content area too: Cancel stays. */
    if (cancel == NULL || (item->data != cancel && !gtk_widget_is_ancestor(cancel, item->data)))
      gtk_widget_hide(item->data);

  view->box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 6);
  gtk_container_set_border_width(GTK_CONTAINER(view->box), 6);
  view->caption = gtk_label_new(_("Starting..."));
  gtk_label_set_xalign(GTK_LABEL(view->caption), 0.0f);
  gtk_box_pack_start(GTK_BOX(view->box), view->caption, FALSE, FALSE, 0);
  int width, height;
  preview_image_fit(image.w, image.h, PREVIEW_SIDE, &width, &height);
  picture_init(&view->main, width, height);
  gtk_box_pack_start(GTK_BOX(view->box), view->main.area, FALSE, FALSE, 0);

  if (outputs > 1) {
    view->strip_count = MIN(outputs, STRIP_MAX);
    view->strip_label = gtk_label_new(NULL);
    gtk_label_set_xalign(GTK_LABEL(view->strip_label), 0.0f);
    gtk_box_pack_start(GTK_BOX(view->box), view->strip_label, FALSE, FALSE, 0);
    GtkWidget *scroller = gtk_scrolled_window_new(NULL, NULL);
    gtk_scrolled_window_set_policy(GTK_SCROLLED_WINDOW(scroller), GTK_POLICY_AUTOMATIC,
                                   GTK_POLICY_NEVER);
    gtk_scrolled_window_set_propagate_natural_width(GTK_SCROLLED_WINDOW(scroller), TRUE);
    gtk_widget_set_size_request(scroller, -1, STRIP_SIDE + 20);
    GtkWidget *row = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 4);
    gtk_container_add(GTK_CONTAINER(scroller), row);
    view->strip = g_new0(Picture, view->strip_count);
    int strip_width, strip_height;
    preview_image_fit(image.w, image.h, STRIP_SIDE, &strip_width, &strip_height);
    for (int k = 0; k < view->strip_count; k++) {
      picture_init(&view->strip[k], strip_width, strip_height);
      gtk_box_pack_start(GTK_BOX(row), view->strip[k].area, FALSE, FALSE, 0);
    }
    gtk_box_pack_start(GTK_BOX(view->box), scroller, FALSE, FALSE, 0);
    run_view_show_finished(view, -1, NULL);
  }

  view->bar = gtk_progress_bar_new();
  gtk_progress_bar_set_show_text(GTK_PROGRESS_BAR(view->bar), TRUE);
  gtk_box_pack_start(GTK_BOX(view->box), view->bar, FALSE, FALSE, 0);
  view->time_left = gtk_label_new(_("Estimating the time left..."));
  gtk_label_set_xalign(GTK_LABEL(view->time_left), 0.0f);
  gtk_box_pack_start(GTK_BOX(view->box), view->time_left, FALSE, FALSE, 0);

  gtk_box_pack_start(GTK_BOX(content), view->box, FALSE, FALSE, 0);
  gtk_widget_show_all(view->box);
  view->response_handler = g_signal_connect(dialog, "response", G_CALLBACK(on_response), view);
  view->delete_handler = g_signal_connect(dialog, "delete-event", G_CALLBACK(on_delete), view);
  return view;
}

int run_view_preview_side(const RunView *view) {
  (void)view;
  return PREVIEW_SIDE;
}

int run_view_strip_side(const RunView *view) {
  return view->strip_count > 0 ? STRIP_SIDE : 0;
}

/* For the GIMP dialog test: the running dialog's size, and where its
 * buttons end, once it has been laid out (a few frames in). */
static void test_report_size(RunView *view, int done) {
  if (done != 3 || !g_getenv("DDIM_PLUGIN_TEST_REPORT")) return;
  const int width = gtk_widget_get_allocated_width(view->dialog);
  const int height = gtk_widget_get_allocated_height(view->dialog);
  GtkWidget *cancel =
      gtk_dialog_get_widget_for_response(GTK_DIALOG(view->dialog), GTK_RESPONSE_CANCEL);
  int x = 0, y = 0;
  GtkAllocation allocation = {0};
  if (cancel) {
    gtk_widget_get_allocation(cancel, &allocation);
    gtk_widget_translate_coordinates(cancel, view->dialog, 0, 0, &x, &y);
  }
  g_printerr("ddim-plugin-test: %s running dialog %dx%d, buttons end at %d, Cancel %s\n",
             ddim_workflow_name(view->kind), width, height, y + allocation.height,
             cancel && gtk_widget_is_visible(cancel) ? "shown" : "hidden");
}

void run_view_show_frame(RunView *view, const RunViewFrame *frame) {
  test_press(view, frame->done);
  test_report_size(view, frame->done);
  if (frame->image) picture_set(&view->main, frame->image);
  g_autofree char *caption =
      frame->phase == DDIM_PHASE_ENCODE
          /* TRANSLATORS: the preview's caption while inverting an image. */
          ? g_strdup_printf(_("Inversion, step %d of %d: x_t on its way to noise"), frame->step,
                            frame->steps)
          /* TRANSLATORS: the preview's caption while sampling. */
          : g_strdup_printf(_("Sampling, step %d of %d: the predicted image x̂₀"), frame->step,
                            frame->steps);
  gtk_label_set_text(GTK_LABEL(view->caption), caption);
  double fraction = frame->total > 0 ? (double)frame->done / frame->total : 1.0;
  gtk_progress_bar_set_fraction(GTK_PROGRESS_BAR(view->bar), CLAMP(fraction, 0.0, 1.0));
  /* TRANSLATORS: progress bar text: network evaluations done of all. */
  g_autofree char *text = g_strdup_printf(_("Step %d/%d"), frame->done, frame->total);
  gtk_progress_bar_set_text(GTK_PROGRESS_BAR(view->bar), text);
  if (view->cancelling) return;
  if (frame->done > 0 && frame->done < frame->total) {
    double left = frame->seconds / frame->done * (frame->total - frame->done);
    g_autofree char *duration = dialog_format_duration(left);
    /* TRANSLATORS: %s is a duration such as "about 12 s". */
    g_autofree char *line = g_strdup_printf(_("Time left: %s"), duration);
    gtk_label_set_text(GTK_LABEL(view->time_left), line);
  } else if (frame->done >= frame->total) {
    gtk_label_set_text(GTK_LABEL(view->time_left), _("Adding the result to the image..."));
  }
}

void run_view_show_finished(RunView *view, int output, const PreviewImage *image) {
  if (output >= 0 && output < view->strip_count && image) {
    if (view->strip[output].image == NULL) view->strip_done++;
    picture_set(&view->strip[output], image);
  } else if (output >= view->strip_count) {
    view->strip_done++;
  }
  if (view->strip_label == NULL) return;
  g_autofree char *text =
      view->kind == DDIM_WORKFLOW_INTERPOLATE
          /* TRANSLATORS: above the strip of finished interpolation frames. */
          ? g_strdup_printf(_("Frames finished: %d of %d"), view->strip_done, view->outputs)
          /* TRANSLATORS: above the strip of finished images. */
          : g_strdup_printf(_("Images finished: %d of %d"), view->strip_done, view->outputs);
  gtk_label_set_text(GTK_LABEL(view->strip_label), text);
}

void run_view_free(RunView *view) {
  if (view == NULL) return;
  g_signal_handler_disconnect(view->dialog, view->response_handler);
  g_signal_handler_disconnect(view->dialog, view->delete_handler);
  g_signal_handlers_disconnect_by_data(view->main.area, &view->main);
  g_free(view->test_action);
  preview_image_free(view->main.image);
  for (int k = 0; k < view->strip_count; k++) {
    g_signal_handlers_disconnect_by_data(view->strip[k].area, &view->strip[k]);
    preview_image_free(view->strip[k].image);
  }
  g_free(view->strip);
  g_free(view);
}
