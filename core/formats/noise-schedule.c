/* noise-schedule.c — how β and ᾱ are computed.
 *
 * diffusers builds betas in float32 with torch.linspace and takes
 * torch.cumprod (double accumulation on the CPU, float32 results); we do the
 * same so ᾱ agrees to float32 rounding.  (The official DDIM code uses float64
 * numpy linspace; its ᾱ differ in the 7th significant digit.) */
#include "ddim.h"
#include "json-util.h"
#include "noise-schedule.h"

#include <math.h>
#include <string.h>

/* torch's CPU kernel: step in float32, the first half counted from start and
 * the second half from end, so both endpoints are exact. */
void ddim_linspace_f32(float start, float end, int steps, float *out) {
  if (steps == 1) {
    out[0] = start;
    return;
  }
  float step = (end - start) / (float)(steps - 1);
  int halfway = steps / 2;
  for (int i = 0; i < steps; i++)
    out[i] = i < halfway ? start + step * (float)i : end - step * (float)(steps - i - 1);
}

static double squaredcos_alpha_bar(double t) {
  double c = cos((t + 0.008) / 1.008 * G_PI / 2.0);
  return c * c;
}

static gboolean compute_tables(DdimNoiseSchedule *schedule, const float *trained_betas,
                               const char *path, GError **error);

/* Fill betas and ᾱ; on failure the schedule holds no tables. */
static gboolean compute(DdimNoiseSchedule *schedule, const float *trained_betas, const char *path,
                        GError **error) {
  if (compute_tables(schedule, trained_betas, path, error)) return TRUE;
  ddim_noise_schedule_clear(schedule);
  return FALSE;
}

static gboolean compute_tables(DdimNoiseSchedule *schedule, const float *trained_betas,
                               const char *path, GError **error) {
  int T = schedule->num_train_timesteps;
  g_free(schedule->betas);
  g_free(schedule->alphas_cumprod);
  schedule->betas = g_new(float, (gsize)T);
  schedule->alphas_cumprod = g_new(float, (gsize)T);
  const char *kind = schedule->beta_schedule;
  /* diffusers would build a decreasing linear schedule; no DDPM was trained
   * with one, so the two values are surely swapped. */
  if (!trained_betas && (strcmp(kind, "linear") == 0 || strcmp(kind, "scaled_linear") == 0) &&
      schedule->beta_end < schedule->beta_start) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                "%s: \"beta_end\" (%g) is smaller than \"beta_start\" (%g)", path,
                schedule->beta_end, schedule->beta_start);
    return FALSE;
  }
  if (trained_betas) {
    memcpy(schedule->betas, trained_betas, sizeof(float) * (size_t)T);
  } else if (strcmp(kind, "linear") == 0) {
    ddim_linspace_f32((float)schedule->beta_start, (float)schedule->beta_end, T, schedule->betas);
  } else if (strcmp(kind, "scaled_linear") == 0) {
    /* Latent-diffusion schedule: linspace of square roots, squared in float32. */
    ddim_linspace_f32((float)sqrt(schedule->beta_start), (float)sqrt(schedule->beta_end), T,
                      schedule->betas);
    for (int i = 0; i < T; i++) schedule->betas[i] = schedule->betas[i] * schedule->betas[i];
  } else if (strcmp(kind, "squaredcos_cap_v2") == 0) {
    /* Nichol & Dhariwal cosine schedule, β capped at 0.999 (betas_for_alpha_bar). */
    for (int i = 0; i < T; i++) {
      double t1 = (double)i / T, t2 = (double)(i + 1) / T;
      double beta = 1.0 - squaredcos_alpha_bar(t2) / squaredcos_alpha_bar(t1);
      schedule->betas[i] = (float)(beta < 0.999 ? beta : 0.999);
    }
  } else {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                "%s: \"beta_schedule\": \"%s\" is not supported (supported: linear, "
                "scaled_linear, squaredcos_cap_v2)",
                path, kind);
    return FALSE;
  }
  for (int i = 0; i < T; i++) {
    float beta = schedule->betas[i];
    if (!(beta > 0.0f && beta < 1.0f)) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                  "%s: beta[%d] = %g is outside (0, 1); check beta_start/beta_end", path, i,
                  (double)beta);
      return FALSE;
    }
  }
  double product = 1.0;
  for (int i = 0; i < T; i++) {
    product *= (double)(1.0f - schedule->betas[i]);
    schedule->alphas_cumprod[i] = (float)product;
    /* x̂_0 divides by √ᾱ_t (DDIM eq. 9): ᾱ that rounds to 0 in float32
     * would turn every sample into infinities. */
    if (!(schedule->alphas_cumprod[i] > 0.0f)) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                  "%s: alpha_bar reaches 0 at timestep %d of %d; the betas are too large for "
                  "\"num_train_timesteps\"",
                  path, i, T);
      return FALSE;
    }
  }
  schedule->final_alpha_cumprod =
      schedule->set_alpha_to_one ? 1.0 : (double)schedule->alphas_cumprod[0];
  return TRUE;
}

static void set_defaults(DdimNoiseSchedule *schedule) {
  memset(schedule, 0, sizeof *schedule);
  schedule->num_train_timesteps = 1000;
  g_strlcpy(schedule->beta_schedule, "linear", sizeof schedule->beta_schedule);
  schedule->beta_start = 1e-4;
  schedule->beta_end = 0.02;
  schedule->clip_sample = FALSE;
  schedule->clip_sample_range = 1.0;
  schedule->set_alpha_to_one = TRUE;
  schedule->steps_offset = 0;
  schedule->prediction_type = DDIM_PREDICTION_EPSILON;
}

gboolean ddim_noise_schedule_init_default(DdimNoiseSchedule *schedule, GError **error) {
  set_defaults(schedule);
  return compute(schedule, NULL, "(default schedule)", error);
}

void ddim_noise_schedule_clear(DdimNoiseSchedule *schedule) {
  g_clear_pointer(&schedule->betas, g_free);
  g_clear_pointer(&schedule->alphas_cumprod, g_free);
}

gboolean ddim_noise_schedule_parse(const char *text, gssize length, const char *path,
                                   DdimNoiseSchedule *schedule, GError **error) {
  JsonObject *object = NULL;
  g_autoptr(JsonNode) root = ddim_json_parse_object(text, length, path, &object, error);
  if (!root) return FALSE;
  set_defaults(schedule);
  /* A scheduler config saved by diffusers (DDPM/DDIM/PNDM…): DDIMScheduler's
   * own default for clip_sample is True, so a config that omits it clips. */
  schedule->clip_sample = TRUE;

  const char *beta_schedule = NULL, *prediction = NULL;
  gboolean thresholding = FALSE, zero_snr = FALSE;
  if (!ddim_json_get_int(object, "num_train_timesteps", path, 2, DDIM_MAX_TRAIN_TIMESTEPS,
                         &schedule->num_train_timesteps, error) ||
      !ddim_json_get_double(object, "beta_start", path, 0.0, 1.0, &schedule->beta_start, error) ||
      !ddim_json_get_double(object, "beta_end", path, 0.0, 1.0, &schedule->beta_end, error) ||
      !ddim_json_get_string(object, "beta_schedule", path, &beta_schedule, NULL, error) ||
      !ddim_json_get_bool(object, "clip_sample", path, &schedule->clip_sample, error) ||
      !ddim_json_get_double(object, "clip_sample_range", path, 1e-6, 1e6,
                            &schedule->clip_sample_range, error) ||
      !ddim_json_get_bool(object, "set_alpha_to_one", path, &schedule->set_alpha_to_one, error) ||
      !ddim_json_get_int(object, "steps_offset", path, 0, 1000, &schedule->steps_offset, error) ||
      !ddim_json_get_string(object, "prediction_type", path, &prediction, NULL, error) ||
      !ddim_json_get_bool(object, "thresholding", path, &thresholding, error) ||
      !ddim_json_get_bool(object, "rescale_betas_zero_snr", path, &zero_snr, error))
    return FALSE;
  if (beta_schedule) {
    if (strlen(beta_schedule) >= sizeof schedule->beta_schedule) beta_schedule = "(too long)";
    g_strlcpy(schedule->beta_schedule, beta_schedule, sizeof schedule->beta_schedule);
  }
  if (prediction) {
    if (strcmp(prediction, "epsilon") == 0)
      schedule->prediction_type = DDIM_PREDICTION_EPSILON;
    else if (strcmp(prediction, "sample") == 0)
      schedule->prediction_type = DDIM_PREDICTION_SAMPLE;
    else if (strcmp(prediction, "v_prediction") == 0)
      schedule->prediction_type = DDIM_PREDICTION_V;
    else {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                  "%s: \"prediction_type\": \"%s\" is not supported (supported: epsilon, sample, "
                  "v_prediction)",
                  path, prediction);
      return FALSE;
    }
  }
  if (thresholding) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                "%s: \"thresholding\" (dynamic thresholding) is not supported", path);
    return FALSE;
  }
  if (zero_snr) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                "%s: \"rescale_betas_zero_snr\" is not supported", path);
    return FALSE;
  }

  g_autofree float *trained = NULL;
  JsonNode *trained_node = ddim_json_has(object, "trained_betas")
                               ? json_object_get_member(object, "trained_betas")
                               : NULL;
  if (trained_node) {
    if (!JSON_NODE_HOLDS_ARRAY(trained_node)) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: \"trained_betas\" must be a list",
                  path);
      return FALSE;
    }
    JsonArray *array = json_node_get_array(trained_node);
    guint count = json_array_get_length(array);
    if (count < 2 || count > DDIM_MAX_TRAIN_TIMESTEPS) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: \"trained_betas\" has %u values", path,
                  count);
      return FALSE;
    }
    trained = g_new(float, count);
    for (guint i = 0; i < count; i++) {
      double beta;
      if (ddim_json_node_number(json_array_get_element(array, i), &beta)) {
        trained[i] = (float)beta;
      } else {
        g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: \"trained_betas\" must hold numbers",
                    path);
        return FALSE;
      }
    }
    /* diffusers only works when the list and num_train_timesteps agree. */
    if (ddim_json_has(object, "num_train_timesteps") &&
        (int)count != schedule->num_train_timesteps) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                  "%s: \"trained_betas\" has %u values but \"num_train_timesteps\" is %d", path,
                  count, schedule->num_train_timesteps);
      return FALSE;
    }
    schedule->num_train_timesteps = (int)count;
    g_strlcpy(schedule->beta_schedule, "trained", sizeof schedule->beta_schedule);
  }
  return compute(schedule, trained, path, error);
}

gboolean ddim_noise_schedule_load(const char *path, DdimNoiseSchedule *schedule, GError **error) {
  g_autofree char *text = NULL;
  gsize length = 0;
  if (!ddim_json_read_file(path, 64 * 1024 * 1024, &text, &length, error)) return FALSE;
  return ddim_noise_schedule_parse(text, (gssize)length, path, schedule, error);
}

double ddim_noise_schedule_alpha_bar(const DdimNoiseSchedule *schedule, int t) {
  if (t < 0) return schedule->final_alpha_cumprod;
  if (t >= schedule->num_train_timesteps) t = schedule->num_train_timesteps - 1;
  return (double)schedule->alphas_cumprod[t];
}
