/* test-noise-schedule.c — β and ᾱ from scheduler_config.json.
 *
 * Expected values: the DDIMScheduler defaults and the ᾱ table of
 * shared/reference/diffusers-unet-ddim-safetensors.md §3.1-3.2, and the
 * closed forms of each schedule evaluated here in double precision. */
#include "ddim.h"
#include "noise-schedule.h"

#include <math.h>
#include <string.h>

#define PATH "/virtual/scheduler/scheduler_config.json"

static double relative(double got, double expected) {
  return fabs(got - expected) / fabs(expected);
}

static void test_defaults(void) {
  DdimNoiseSchedule s;
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_noise_schedule_init_default(&s, &error));
  g_assert_no_error(error);
  g_assert_cmpint(s.num_train_timesteps, ==, 1000);
  g_assert_cmpstr(s.beta_schedule, ==, "linear");
  g_assert_cmpfloat(s.beta_start, ==, 1e-4);
  g_assert_cmpfloat(s.beta_end, ==, 0.02);
  g_assert_false(s.clip_sample); /* no config: no clipping (CLI contract) */
  g_assert_cmpfloat(s.clip_sample_range, ==, 1.0);
  g_assert_true(s.set_alpha_to_one);
  g_assert_cmpfloat(s.final_alpha_cumprod, ==, 1.0);
  g_assert_cmpfloat(ddim_noise_schedule_alpha_bar(&s, -1), ==, 1.0);
  g_assert_cmpint(s.steps_offset, ==, 0);
  g_assert_cmpint(s.prediction_type, ==, DDIM_PREDICTION_EPSILON);
  /* torch.linspace endpoints are exact. */
  g_assert_true(s.betas[0] == 1e-4f);
  g_assert_true(s.betas[999] == 0.02f);
  ddim_noise_schedule_clear(&s);
  g_assert_null(s.betas);
  g_assert_null(s.alphas_cumprod);
}

/* diffusers float32 linspace + double-accumulated cumprod (reference §3.2). */
static void assert_linear_reference_alphas(const DdimNoiseSchedule *s) {
  static const struct {
    int t;
    double value;
  } table[] = {
      {0, 0.99989998},      {19, 0.99423087},     {499, 0.07858725},
      {980, 5.9037528e-05}, {999, 4.0358307e-05},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(table); i++) {
    double got = ddim_noise_schedule_alpha_bar(s, table[i].t);
    if (relative(got, table[i].value) > 1e-7)
      g_error("abar[%d] = %.9g, reference %.9g", table[i].t, got, table[i].value);
  }
}

static void test_linear_reference_values(void) {
  DdimNoiseSchedule s;
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_noise_schedule_init_default(&s, &error));
  assert_linear_reference_alphas(&s);
  /* ᾱ decreases strictly and stays in (0, 1). */
  for (int t = 1; t < 1000; t++) g_assert_cmpfloat(s.alphas_cumprod[t], <, s.alphas_cumprod[t - 1]);
  g_assert_cmpfloat(s.alphas_cumprod[999], >, 0.0);
  /* Beyond T−1 the last value is used. */
  g_assert_cmpfloat(ddim_noise_schedule_alpha_bar(&s, 5000), ==, s.alphas_cumprod[999]);
  ddim_noise_schedule_clear(&s);
}

/* google/ddpm-cifar10-32's scheduler_config.json (reference §2.2). */
static void test_ddpm_scheduler_config(void) {
  const char *text = "{\n"
                     "  \"_class_name\": \"DDPMScheduler\",\n"
                     "  \"_diffusers_version\": \"0.1.1\",\n"
                     "  \"beta_end\": 0.02,\n"
                     "  \"beta_schedule\": \"linear\",\n"
                     "  \"beta_start\": 0.0001,\n"
                     "  \"clip_sample\": true,\n"
                     "  \"num_train_timesteps\": 1000,\n"
                     "  \"trained_betas\": null,\n"
                     "  \"variance_type\": \"fixed_large\"\n"
                     "}\n";
  DdimNoiseSchedule s;
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_noise_schedule_parse(text, -1, PATH, &s, &error));
  g_assert_no_error(error);
  g_assert_true(s.clip_sample);
  g_assert_cmpint(s.num_train_timesteps, ==, 1000);
  g_assert_cmpstr(s.beta_schedule, ==, "linear");
  g_assert_true(s.set_alpha_to_one);
  g_assert_cmpfloat(s.final_alpha_cumprod, ==, 1.0);
  g_assert_cmpint(s.prediction_type, ==, DDIM_PREDICTION_EPSILON);
  assert_linear_reference_alphas(&s);
  ddim_noise_schedule_clear(&s);
}

/* A config that does not mention clip_sample takes DDIMScheduler's True. */
static void test_clip_default_in_config(void) {
  DdimNoiseSchedule s;
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_noise_schedule_parse("{\"beta_schedule\": \"linear\"}", -1, PATH, &s, &error));
  g_assert_no_error(error);
  g_assert_true(s.clip_sample);
  g_assert_cmpfloat(s.clip_sample_range, ==, 1.0);
  ddim_noise_schedule_clear(&s);
  g_assert_true(ddim_noise_schedule_parse("{}", -1, PATH, &s, &error));
  g_assert_true(s.clip_sample);
  ddim_noise_schedule_clear(&s);
  g_assert_true(
      ddim_noise_schedule_parse("{\"clip_sample\": false, \"clip_sample_range\": 2.5, "
                                "\"steps_offset\": 1, \"prediction_type\": \"v_prediction\"}",
                                -1, PATH, &s, &error));
  g_assert_no_error(error);
  g_assert_false(s.clip_sample);
  g_assert_cmpfloat(s.clip_sample_range, ==, 2.5);
  g_assert_cmpint(s.steps_offset, ==, 1);
  g_assert_cmpint(s.prediction_type, ==, DDIM_PREDICTION_V);
  ddim_noise_schedule_clear(&s);
  g_assert_true(
      ddim_noise_schedule_parse("{\"prediction_type\": \"sample\"}", -1, PATH, &s, &error));
  g_assert_cmpint(s.prediction_type, ==, DDIM_PREDICTION_SAMPLE);
  ddim_noise_schedule_clear(&s);
}

/* Compare a parsed schedule with betas given in double (closed form):
 * β to float32 accuracy, and ᾱ = Π(1 − β) to ~1e-6 relative.  As in torch,
 * β and 1 − β are float32 (the product is accumulated in double): near the
 * 0.999 cap of the cosine schedule 1 − β ≈ 1e-3 carries the float32
 * rounding of β at a relative 6e-5, which is the reference's behaviour, so
 * the closed-form β are rounded the same way before the product. */
static void compare_with_closed_form(const DdimNoiseSchedule *s, const double *betas, int T,
                                     double beta_tolerance, double alpha_tolerance) {
  double product = 1.0, worst_beta = 0.0, worst_alpha = 0.0;
  for (int t = 0; t < T; t++) {
    worst_beta = fmax(worst_beta, relative(s->betas[t], betas[t]));
    const float beta32 = (float)betas[t];
    product *= (double)(1.0f - beta32);
    worst_alpha = fmax(worst_alpha, relative(s->alphas_cumprod[t], product));
  }
  g_test_message("%s: worst beta error %.2e, worst abar error %.2e", s->beta_schedule, worst_beta,
                 worst_alpha);
  g_assert_cmpfloat(worst_beta, <=, beta_tolerance);
  g_assert_cmpfloat(worst_alpha, <=, alpha_tolerance);
}

static void test_linear_closed_form(void) {
  DdimNoiseSchedule s;
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_noise_schedule_init_default(&s, &error));
  double betas[1000];
  for (int t = 0; t < 1000; t++) betas[t] = 1e-4 + (0.02 - 1e-4) * t / 999.0;
  compare_with_closed_form(&s, betas, 1000, 3e-7, 1e-6);
  ddim_noise_schedule_clear(&s);
}

static void test_scaled_linear(void) {
  DdimNoiseSchedule s;
  g_autoptr(GError) error = NULL;
  g_assert_true(
      ddim_noise_schedule_parse("{\"beta_schedule\": \"scaled_linear\", \"beta_start\": "
                                "0.00085, \"beta_end\": 0.012, \"num_train_timesteps\": 1000}",
                                -1, PATH, &s, &error));
  g_assert_no_error(error);
  g_assert_cmpstr(s.beta_schedule, ==, "scaled_linear");
  double betas[1000];
  const double a = sqrt(0.00085), b = sqrt(0.012);
  for (int t = 0; t < 1000; t++) {
    double r = a + (b - a) * t / 999.0;
    betas[t] = r * r;
  }
  compare_with_closed_form(&s, betas, 1000, 5e-7, 1e-6);
  /* Endpoints: sqrt(0.00085)² and sqrt(0.012)² in float32. */
  g_assert_cmpfloat(relative(s.betas[0], 0.00085), <=, 2e-7);
  g_assert_cmpfloat(relative(s.betas[999], 0.012), <=, 2e-7);
  ddim_noise_schedule_clear(&s);
}

/* Nichol & Dhariwal: β_i = min(1 − f((i+1)/T)/f(i/T), 0.999),
 * f(t) = cos((t + 0.008)/1.008 · π/2)². */
static double cosine_f(double t) {
  double c = cos((t + 0.008) / 1.008 * M_PI / 2.0);
  return c * c;
}

static void test_squaredcos(void) {
  DdimNoiseSchedule s;
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_noise_schedule_parse("{\"beta_schedule\": \"squaredcos_cap_v2\", "
                                          "\"num_train_timesteps\": 1000}",
                                          -1, PATH, &s, &error));
  g_assert_no_error(error);
  double betas[1000];
  for (int t = 0; t < 1000; t++)
    betas[t] = fmin(1.0 - cosine_f((t + 1) / 1000.0) / cosine_f(t / 1000.0), 0.999);
  g_assert_cmpfloat(betas[999], ==, 0.999); /* the cap is reached */
  compare_with_closed_form(&s, betas, 1000, 1e-7, 3e-7);
  /* Without the cap, ᾱ_t is f((t+1)/T)/f(0) (the product telescopes); check
   * it where β is far from the cap. */
  for (int t = 0; t < 900; t += 99)
    g_assert_cmpfloat(relative(s.alphas_cumprod[t], cosine_f((t + 1) / 1000.0) / cosine_f(0.0)), <=,
                      2e-6);
  ddim_noise_schedule_clear(&s);

  /* Another T: 50 steps. */
  g_assert_true(ddim_noise_schedule_parse("{\"beta_schedule\": \"squaredcos_cap_v2\", "
                                          "\"num_train_timesteps\": 50}",
                                          -1, PATH, &s, &error));
  double small[50];
  for (int t = 0; t < 50; t++)
    small[t] = fmin(1.0 - cosine_f((t + 1) / 50.0) / cosine_f(t / 50.0), 0.999);
  compare_with_closed_form(&s, small, 50, 1e-7, 3e-7);
  ddim_noise_schedule_clear(&s);
}

static void test_trained_betas(void) {
  DdimNoiseSchedule s;
  g_autoptr(GError) error = NULL;
  g_assert_true(
      ddim_noise_schedule_parse("{\"trained_betas\": [0.1, 0.2, 0.5, 1e-3], "
                                "\"beta_schedule\": \"linear\", \"num_train_timesteps\": 4}",
                                -1, PATH, &s, &error));
  g_assert_no_error(error);
  g_assert_cmpint(s.num_train_timesteps, ==, 4);
  g_assert_cmpstr(s.beta_schedule, ==, "trained");
  g_assert_true(s.betas[0] == 0.1f && s.betas[2] == 0.5f);
  const double expected[4] = {0.9, 0.72, 0.36, 0.36 * 0.999};
  for (int t = 0; t < 4; t++)
    g_assert_cmpfloat(relative(s.alphas_cumprod[t], expected[t]), <=, 2e-7);
  ddim_noise_schedule_clear(&s);

  /* Malformed lists. */
  g_assert_false(ddim_noise_schedule_parse("{\"trained_betas\": \"0.1\"}", -1, PATH, &s, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT);
  g_assert_nonnull(strstr(error->message, "trained_betas"));
  g_clear_error(&error);
  g_assert_false(
      ddim_noise_schedule_parse("{\"trained_betas\": [0.1, \"x\"]}", -1, PATH, &s, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT);
  g_clear_error(&error);
  /* A β of 1 (or more) would make ᾱ zero: refused. */
  g_assert_false(
      ddim_noise_schedule_parse("{\"trained_betas\": [0.1, 1.0]}", -1, PATH, &s, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT);
  g_clear_error(&error);
  ddim_noise_schedule_clear(&s); /* a failed parse may hold the tables */
  g_assert_false(
      ddim_noise_schedule_parse("{\"trained_betas\": [0.1, 0.0]}", -1, PATH, &s, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT);
  ddim_noise_schedule_clear(&s);
}

static void test_set_alpha_to_one_false(void) {
  DdimNoiseSchedule s;
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_noise_schedule_parse("{\"set_alpha_to_one\": false}", -1, PATH, &s, &error));
  g_assert_no_error(error);
  g_assert_false(s.set_alpha_to_one);
  g_assert_cmpfloat(s.final_alpha_cumprod, ==, (double)s.alphas_cumprod[0]);
  g_assert_cmpfloat(ddim_noise_schedule_alpha_bar(&s, -1), ==, (double)s.alphas_cumprod[0]);
  /* ᾱ_0 = 1 − β_0 = 1 − 1e-4 in float32. */
  g_assert_cmpfloat(relative(ddim_noise_schedule_alpha_bar(&s, -1), 0.9999), <=, 1e-7);
  ddim_noise_schedule_clear(&s);
}

static void expect_refusal(const char *text, int code, const char *field) {
  DdimNoiseSchedule s;
  memset(&s, 0, sizeof s);
  g_autoptr(GError) error = NULL;
  if (ddim_noise_schedule_parse(text, -1, PATH, &s, &error)) g_error("accepted: %s", text);
  g_assert_nonnull(error);
  if (error->domain != DDIM_ERROR || error->code != code)
    g_error("%s: code %d, expected %d (%s)", text, error->code, code, error->message);
  g_assert_nonnull(strstr(error->message, PATH));
  if (field && !strstr(error->message, field))
    g_error("%s: \"%s\" lacks %s", text, error->message, field);
  ddim_noise_schedule_clear(&s);
}

static void test_refusals(void) {
  expect_refusal("{\"beta_schedule\": \"sigmoid\"}", DDIM_ERROR_UNSUPPORTED, "beta_schedule");
  expect_refusal("{\"beta_schedule\": \"quad\"}", DDIM_ERROR_UNSUPPORTED, "beta_schedule");
  expect_refusal("{\"thresholding\": true}", DDIM_ERROR_UNSUPPORTED, "thresholding");
  expect_refusal("{\"rescale_betas_zero_snr\": true}", DDIM_ERROR_UNSUPPORTED,
                 "rescale_betas_zero_snr");
  expect_refusal("{\"prediction_type\": \"flow\"}", DDIM_ERROR_UNSUPPORTED, "prediction_type");
  expect_refusal("{\"num_train_timesteps\": 0}", DDIM_ERROR_UNSUPPORTED, "num_train_timesteps");
  expect_refusal("{\"num_train_timesteps\": 1000000000}", DDIM_ERROR_UNSUPPORTED,
                 "num_train_timesteps");
  expect_refusal("{\"num_train_timesteps\": -5}", DDIM_ERROR_UNSUPPORTED, "num_train_timesteps");
  expect_refusal("{\"num_train_timesteps\": \"1000\"}", DDIM_ERROR_FORMAT, "num_train_timesteps");
  expect_refusal("{\"clip_sample\": \"yes\"}", DDIM_ERROR_FORMAT, "clip_sample");
  expect_refusal("{\"beta_end\": 2.0}", DDIM_ERROR_UNSUPPORTED, "beta_end");
  /* β_end = 1 gives β_{T−1} = 1 and ᾱ = 0 from there on. */
  expect_refusal("{\"beta_end\": 1.0}", DDIM_ERROR_FORMAT, "beta");
  expect_refusal("not json", DDIM_ERROR_FORMAT, NULL);
  expect_refusal("[]", DDIM_ERROR_FORMAT, NULL);
  /* Swapped ends of a linear schedule; ignored by the cosine schedule. */
  expect_refusal("{\"beta_start\": 0.02, \"beta_end\": 0.0001}", DDIM_ERROR_FORMAT, "beta_end");
  expect_refusal("{\"beta_schedule\": \"scaled_linear\", \"beta_start\": 0.02, \"beta_end\": 0.01}",
                 DDIM_ERROR_FORMAT, "beta_start");
  /* ᾱ_t rounds to 0 in float32 long before T = 100000 (x̂_0 would divide by 0). */
  expect_refusal("{\"num_train_timesteps\": 100000, \"beta_end\": 0.5}", DDIM_ERROR_UNSUPPORTED,
                 "alpha_bar reaches 0");
  expect_refusal("{\"num_train_timesteps\": 3, \"trained_betas\": [0.1, 0.2]}", DDIM_ERROR_FORMAT,
                 "trained_betas");
  expect_refusal("{\"clip_sample\": true, \"clip_sample\": false}", DDIM_ERROR_FORMAT, "twice");
  /* Thresholding false and zero-SNR false are fine. */
  DdimNoiseSchedule s;
  g_autoptr(GError) error = NULL;
  g_assert_true(
      ddim_noise_schedule_parse("{\"beta_schedule\": \"squaredcos_cap_v2\", \"beta_start\": 0.5, "
                                "\"beta_end\": 0.1}",
                                -1, PATH, &s, &error));
  g_assert_no_error(error);
  ddim_noise_schedule_clear(&s);
  g_assert_true(
      ddim_noise_schedule_parse("{\"thresholding\": false, \"rescale_betas_zero_snr\": false, "
                                "\"timestep_spacing\": \"trailing\"}",
                                -1, PATH, &s, &error));
  g_assert_no_error(error);
  ddim_noise_schedule_clear(&s);
}

/* The JSON classes of json-util.c, through scheduler_config.json: each is
 * refused with a message that names the file, the member and the value. */
static void expect_message(const char *text, int code, const char *message) {
  DdimNoiseSchedule s;
  memset(&s, 0, sizeof s);
  g_autoptr(GError) error = NULL;
  if (ddim_noise_schedule_parse(text, -1, PATH, &s, &error)) g_error("accepted: %s", text);
  g_assert_nonnull(error);
  if (error->domain != DDIM_ERROR || error->code != code)
    g_error("%s: code %d, expected %d (%s)", text, error->code, code, error->message);
  if (!g_str_has_prefix(error->message, PATH ": ") || !strstr(error->message, message))
    g_error("%s: \"%s\" does not start with the path or lacks \"%s\"", text, error->message,
            message);
  g_test_message("%s -> %s", text, error->message);
  ddim_noise_schedule_clear(&s);
}

static void test_json_classes(void) {
  static const char *const integer_keys[] = {"num_train_timesteps", "steps_offset"};
  /* json-glib wrapped these around 64 bits: -18446744073709551608 was 8,
   * 18446744073709552616 was 1000. */
  static const char *const beyond_int64[] = {
      "9223372036854775808",  "-9223372036854775809",  "18446744073709551615",
      "18446744073709551616", "-18446744073709551608", "18446744073709552616",
  };
  static const char *const inside_int64[] = {"9223372036854775807", "-9223372036854775808",
                                             "4294967297", "-4294967295"};
  static const char *const not_integers[][2] = {
      {"-0", "-0.0"}, {"1000.0", "1000.0"}, {"1e3", "1000.0"}, {"0.5", "0.5"}};
  for (size_t k = 0; k < G_N_ELEMENTS(integer_keys); k++) {
    const char *key = integer_keys[k];
    for (size_t i = 0; i < G_N_ELEMENTS(beyond_int64); i++) {
      g_autofree char *text = g_strdup_printf("{\"%s\": %s}", key, beyond_int64[i]);
      g_autofree char *message = g_strdup_printf(
          "\"%s\" is %s, outside the range of a 64-bit integer (line 1, column %zu)", key,
          beyond_int64[i], strlen(key) + 6);
      expect_message(text, DDIM_ERROR_FORMAT, message);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(inside_int64); i++) {
      g_autofree char *text = g_strdup_printf("{\"%s\": %s}", key, inside_int64[i]);
      g_autofree char *message =
          g_strdup_printf("\"%s\" is %s; supported values are", key, inside_int64[i]);
      expect_message(text, DDIM_ERROR_UNSUPPORTED, message);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(not_integers); i++) {
      g_autofree char *text = g_strdup_printf("{\"%s\": %s}", key, not_integers[i][0]);
      g_autofree char *message =
          g_strdup_printf("\"%s\" must be an integer, not %s", key, not_integers[i][1]);
      expect_message(text, DDIM_ERROR_FORMAT, message);
    }
  }
  /* Duplicate keys at depths 1 to 3, an object replaced by a later one. */
  for (int depth = 1; depth <= 3; depth++) {
    g_autoptr(GString) text = g_string_new("");
    for (int d = 1; d < depth; d++) g_string_append(text, "{\"clip_sample\": true, \"w\": [");
    g_string_append(text, "{\"k\": {\"a\": [1]}, \"k\": {\"b\": 2}}");
    for (int d = 1; d < depth; d++) g_string_append(text, "]}");
    expect_message(text->str, DDIM_ERROR_FORMAT, "\"k\" appears twice in one object");
  }
  static const struct {
    const char *text, *message;
  } cases[] = {
      {"{\"clip_sample\": true, \"clip_sample\": true}", "\"clip_sample\" appears twice"},
      {"{\"beta_start\": 1e400}", "\"beta_start\" is 1e400, too large for a 64-bit float"},
      {"{\"trained_betas\": [0.1, -1e400]}", "an entry of \"trained_betas\" is -1e400, too large"},
      {"{\"trained_betas\": [0.1, 18446744073709551616]}",
       "an entry of \"trained_betas\" is 18446744073709551616, outside the range"},
      {"{\"prediction_type\": \"epsilon\\u0000x\"}",
       "\"prediction_type\" holds an escaped NUL character (\\u0000)"},
      {"{\"beta_schedule\": \"linear\\u0000\"}", "\"beta_schedule\" holds an escaped NUL"},
      {"{\"clip_sample\\u0000\": true}", "a key holds an escaped NUL"},
      {"{\"clip_sample\": true // clip\n}", "not valid JSON: a comment"},
      {"{'clip_sample': true}", "a single-quoted string"},
      {"{\"num_train_timesteps\": 0x3E8}", "a hexadecimal number"},
      {"{\"num_train_timesteps\": 01000}", "a number with a leading zero"},
      {"{\"beta_end\": NaN}", "NaN (JSON numbers are finite)"},
      {"\xEF\xBB\xBF{\"clip_sample\": true}", "a byte-order mark"},
      {"{\"clip_sample\": true,}", "a comma before '}'"},
      {"{\"trained_betas\": [0.1, 0.2,]}", "a comma before ']'"},
      {"{\"clip_sample\": True}", "the word 'True'"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
    expect_message(cases[i].text, DDIM_ERROR_FORMAT, cases[i].message);
}

static void test_linspace_f32(void) {
  /* Endpoints exact for every length. */
  for (int n = 2; n <= 1001; n += 37) {
    g_autofree float *v = g_new(float, n);
    ddim_linspace_f32(1e-4f, 0.02f, n, v);
    g_assert_true(v[0] == 1e-4f);
    g_assert_true(v[n - 1] == 0.02f);
    /* Close to the exact line, and ascending. */
    for (int i = 0; i < n; i++) {
      double exact = 1e-4 + (0.02 - 1e-4) * i / (double)(n - 1);
      g_assert_cmpfloat(fabs(v[i] - exact), <=, 2.5e-7 * fabs(exact));
      if (i) g_assert_cmpfloat(v[i], >, v[i - 1]);
    }
  }
  float one[1];
  ddim_linspace_f32(3.5f, 7.0f, 1, one);
  g_assert_true(one[0] == 3.5f);
  /* Small integer cases are exact. */
  float five[5];
  ddim_linspace_f32(0.0f, 1.0f, 5, five);
  const float expected[5] = {0.0f, 0.25f, 0.5f, 0.75f, 1.0f};
  for (int i = 0; i < 5; i++) g_assert_true(five[i] == expected[i]);
  float down[3];
  ddim_linspace_f32(2.0f, -2.0f, 3, down);
  g_assert_true(down[0] == 2.0f && down[1] == 0.0f && down[2] == -2.0f);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/noise-schedule/defaults", test_defaults);
  g_test_add_func("/noise-schedule/linear-reference-values", test_linear_reference_values);
  g_test_add_func("/noise-schedule/ddpm-scheduler-config", test_ddpm_scheduler_config);
  g_test_add_func("/noise-schedule/clip-default-in-config", test_clip_default_in_config);
  g_test_add_func("/noise-schedule/linear-closed-form", test_linear_closed_form);
  g_test_add_func("/noise-schedule/scaled-linear", test_scaled_linear);
  g_test_add_func("/noise-schedule/squaredcos-cap-v2", test_squaredcos);
  g_test_add_func("/noise-schedule/trained-betas", test_trained_betas);
  g_test_add_func("/noise-schedule/set-alpha-to-one-false", test_set_alpha_to_one_false);
  g_test_add_func("/noise-schedule/refusals", test_refusals);
  g_test_add_func("/noise-schedule/json-classes", test_json_classes);
  g_test_add_func("/noise-schedule/linspace-f32", test_linspace_f32);
  return g_test_run();
}
