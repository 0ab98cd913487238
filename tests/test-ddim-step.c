/* test-ddim-step.c — one DDIM step in closed form (DDIM eqs. 9, 12, 16).
 *
 * Expected values: the official code's step coefficients for t = 900 → 800
 * (shared/reference/ddim-paper-and-official-code.md §1.3), with ᾱ computed
 * here the way the official code does (float64 numpy linspace of β, cast to
 * float32, cumulative product), and the algebraic identities of the forward
 * process x_t = sqrt(ᾱ_t)·x_0 + sqrt(1 − ᾱ_t)·ε. */
#include "ddim.h"
#include "ddim-step.h"

#include <math.h>
#include <string.h>

#define N 257

/* ᾱ of the official code: betas = np.linspace(1e-4, 0.02, 1000) (float64),
 * .float(); alphas_cumprod = cumprod(1 − β) with double accumulation of the
 * float32 factors. */
static double official_alpha_bar(int t) {
  double product = 1.0;
  for (int s = 0; s <= t; s++) {
    double beta64 = 1e-4 + s * ((0.02 - 1e-4) / 999.0);
    if (s == 999) beta64 = 0.02;
    float beta = (float)beta64;
    product *= (double)(1.0f - beta);
  }
  return (double)(float)product;
}

static void fill_gaussianish(float *v, size_t n, guint32 seed) {
  GRand *rand = g_rand_new_with_seed(seed);
  for (size_t i = 0; i < n; i++) {
    /* Sum of uniforms: roughly N(0, 1), bounded. */
    double s = 0.0;
    for (int k = 0; k < 12; k++) s += g_rand_double(rand);
    v[i] = (float)(s - 6.0);
  }
  g_rand_free(rand);
}

static double max_abs_diff(const float *a, const double *b, size_t n) {
  double worst = 0.0;
  for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)a[i] - b[i]));
  return worst;
}

static double max_abs_diff_f(const float *a, const float *b, size_t n) {
  double worst = 0.0;
  for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)a[i] - (double)b[i]));
  return worst;
}

/* ---- σ and the step coefficients against the official table -------------- */

static void test_official_coefficients(void) {
  const double at = official_alpha_bar(900), at_next = official_alpha_bar(800);
  /* The ᾱ themselves (reference: float32 betas, double cumprod). */
  g_assert_cmpfloat(fabs(at - 0.00027024449) / 0.00027024449, <=, 1e-6);
  g_assert_cmpfloat(fabs(at_next - 0.00150752089) / 0.00150752089, <=, 1e-6);
  g_assert_cmpfloat(fabs(official_alpha_bar(0) - 0.999899983), <=, 1e-8);
  g_assert_cmpfloat(fabs(official_alpha_bar(999) - 4.03582997e-05) / 4.03582997e-05, <=, 1e-6);

  const struct {
    double eta, c1, c2;
  } table[] = {
      {0.0, 0.0, 0.999245955}, {0.2, 0.181076787, 0.982702232}, {1.0, 0.905383936, 0.422814862}};
  for (size_t k = 0; k < G_N_ELEMENTS(table); k++) {
    double sigma = ddim_sigma(at, at_next, table[k].eta);
    if (table[k].c1 == 0.0)
      g_assert_cmpfloat(sigma, ==, 0.0);
    else
      g_assert_cmpfloat(fabs(sigma - table[k].c1) / table[k].c1, <=, 1e-6);

    /* The coefficients ddim_step applies: x0 = 0, ε = 1, z = 0 gives c2;
     * x0 = 1 gives sqrt(ᾱ_prev); z = 1 gives c1. */
    float zero = 0.0f, one = 1.0f, out;
    ddim_step(at, at_next, table[k].eta, &zero, &one, &zero, 1, &out);
    g_assert_cmpfloat(fabs(out - table[k].c2) / table[k].c2, <=, 1e-6);
    ddim_step(at, at_next, table[k].eta, &one, &zero, &zero, 1, &out);
    g_assert_cmpfloat(fabs(out - sqrt(at_next)), <=, 1e-7);
    ddim_step(at, at_next, table[k].eta, &zero, &zero, &one, 1, &out);
    g_assert_cmpfloat(fabs(out - table[k].c1), <=, 1e-6);
  }
}

static void test_sigma_properties(void) {
  const double a = 0.5, b = 0.8;
  g_assert_cmpfloat(ddim_sigma(a, b, 0.0), ==, 0.0);
  /* Linear in η. */
  g_assert_cmpfloat(fabs(ddim_sigma(a, b, 0.5) - 0.5 * ddim_sigma(a, b, 1.0)), <=, 1e-15);
  /* By hand: (1 − 0.8)/(1 − 0.5)·(1 − 0.5/0.8) = 0.4·0.375 = 0.15. */
  g_assert_cmpfloat(fabs(ddim_sigma(a, b, 1.0) - sqrt(0.15)), <=, 1e-15);
  /* η = 1 between neighbours is the DDPM posterior σ̃² = (1−ᾱ_{t−1})/(1−ᾱ_t)·β_t. */
  const double prev = 0.9, beta = 0.02, cur = prev * (1.0 - beta);
  g_assert_cmpfloat(fabs(pow(ddim_sigma(cur, prev, 1.0), 2) - (1 - prev) / (1 - cur) * beta), <=,
                    1e-15);
  /* Equal levels (a duplicate timestep) and the last step (ᾱ_prev = 1): σ = 0. */
  g_assert_cmpfloat(ddim_sigma(0.3, 0.3, 1.0), ==, 0.0);
  g_assert_cmpfloat(ddim_sigma(0.3, 1.0, 1.0), ==, 0.0);
}

/* ---- closed form on the true noise --------------------------------------- */

typedef struct {
  float x0[N], eps[N], xt[N];
  double at;
} Truth;

static void make_truth(Truth *truth, double at, guint32 seed) {
  fill_gaussianish(truth->x0, N, seed);
  fill_gaussianish(truth->eps, N, seed + 1000);
  for (int i = 0; i < N; i++) truth->x0[i] *= 0.5f; /* image-like scale */
  truth->at = at;
  for (int i = 0; i < N; i++)
    truth->xt[i] = (float)(sqrt(at) * truth->x0[i] + sqrt(1.0 - at) * truth->eps[i]);
}

static void test_predict_recovers_x0(void) {
  const double levels[] = {0.9999, 0.5, 0.01, official_alpha_bar(999)};
  for (size_t k = 0; k < G_N_ELEMENTS(levels); k++) {
    Truth truth;
    make_truth(&truth, levels[k], 11 + (guint32)k);
    float x0[N], eps[N];
    ddim_predict(DDIM_PREDICTION_EPSILON, truth.xt, truth.eps, N, truth.at, x0, eps);
    /* x_t carries a float32 rounding (≈3e-7 at this scale), amplified by 1/sqrt(ᾱ). */
    double tolerance = 4e-7 / sqrt(truth.at);
    g_assert_cmpfloat(max_abs_diff_f(x0, truth.x0, N), <=, tolerance);
    g_assert_cmpmem(eps, sizeof eps, truth.eps, sizeof truth.eps); /* ε passes through */
  }
}

/* With ε_θ = ε, a deterministic step lands on the forward process at ᾱ_prev. */
static void test_step_lands_on_forward_process(void) {
  const double pairs[][2] = {{official_alpha_bar(900), official_alpha_bar(800)},
                             {official_alpha_bar(999), official_alpha_bar(979)},
                             {0.3, 0.35},
                             {0.5, 0.999}};
  for (size_t k = 0; k < G_N_ELEMENTS(pairs); k++) {
    Truth truth;
    make_truth(&truth, pairs[k][0], 21 + (guint32)k);
    const double prev = pairs[k][1];
    float x0[N], eps[N], out[N];
    double expected[N];
    ddim_predict(DDIM_PREDICTION_EPSILON, truth.xt, truth.eps, N, truth.at, x0, eps);
    ddim_step(truth.at, prev, 0.0, x0, eps, NULL, N, out);
    for (int i = 0; i < N; i++)
      expected[i] = sqrt(prev) * truth.x0[i] + sqrt(1.0 - prev) * truth.eps[i];
    double tolerance = 4e-7 * sqrt(prev / truth.at) + 1e-6;
    g_assert_cmpfloat(max_abs_diff(out, expected, N), <=, tolerance);
  }
}

/* The last step (ᾱ_prev = 1) returns x̂_0 exactly, whatever η and the noise. */
static void test_final_step_returns_x0(void) {
  float x0[N], eps[N], noise[N], out[N];
  fill_gaussianish(x0, N, 31);
  fill_gaussianish(eps, N, 32);
  fill_gaussianish(noise, N, 33);
  const double etas[] = {0.0, 0.3, 1.0};
  for (size_t k = 0; k < G_N_ELEMENTS(etas); k++) {
    ddim_step(0.9, 1.0, etas[k], x0, eps, noise, N, out);
    g_assert_cmpmem(out, sizeof out, x0, sizeof x0);
    ddim_step(0.9, 1.0, etas[k], x0, eps, NULL, N, out);
    g_assert_cmpmem(out, sizeof out, x0, sizeof x0);
  }
}

/* Eq. 12 with η > 0 and explicit noise, evaluated in double here. */
static void test_stochastic_step(void) {
  float x0[N], eps[N], noise[N], out[N];
  fill_gaussianish(x0, N, 41);
  fill_gaussianish(eps, N, 42);
  fill_gaussianish(noise, N, 43);
  const double at = 0.2, prev = 0.6, eta = 0.7;
  const double sigma = eta * sqrt((1 - prev) / (1 - at) * (1 - at / prev));
  double expected[N];
  for (int i = 0; i < N; i++)
    expected[i] = sqrt(prev) * x0[i] + sqrt(1 - prev - sigma * sigma) * eps[i] + sigma * noise[i];
  ddim_step(at, prev, eta, x0, eps, noise, N, out);
  g_assert_cmpfloat(max_abs_diff(out, expected, N), <=, 2e-6);
  /* A different noise changes the result (the noise is used). */
  float other[N];
  noise[0] += 1.0f;
  ddim_step(at, prev, eta, x0, eps, noise, N, other);
  g_assert_cmpfloat(fabs(other[0] - out[0] - sigma), <=, 1e-6);
}

/* Encoding then decoding with the same ε returns to the start. */
static void test_inverse_undoes_step(void) {
  const double pairs[][2] = {{1.0, official_alpha_bar(0)},
                             {official_alpha_bar(0), official_alpha_bar(100)},
                             {official_alpha_bar(800), official_alpha_bar(900)},
                             {0.7, 0.2}};
  for (size_t k = 0; k < G_N_ELEMENTS(pairs); k++) {
    const double cur = pairs[k][0], next = pairs[k][1];
    float x[N], eps[N], x0[N], eps_pred[N], up[N], x0_back[N], eps_back[N], down[N];
    fill_gaussianish(x, N, 51 + (guint32)k);
    fill_gaussianish(eps, N, 61 + (guint32)k);
    /* Upwards: x̂_0 at the current level, then eq. 12 with σ = 0 at ᾱ_next. */
    ddim_predict(DDIM_PREDICTION_EPSILON, x, eps, N, cur, x0, eps_pred);
    ddim_step_inverse(next, x0, eps_pred, N, up);
    /* The forward map in double. */
    double expected_up[N];
    for (int i = 0; i < N; i++) {
      double x0_exact = (x[i] - sqrt(1 - cur) * eps[i]) / sqrt(cur);
      expected_up[i] = sqrt(next) * x0_exact + sqrt(1 - next) * eps[i];
    }
    g_assert_cmpfloat(max_abs_diff(up, expected_up, N), <=, 2e-6 * sqrt(next / cur) + 1e-6);
    /* Downwards with the same ε. */
    ddim_predict(DDIM_PREDICTION_EPSILON, up, eps, N, next, x0_back, eps_back);
    ddim_step(next, cur, 0.0, x0_back, eps_back, NULL, N, down);
    double scale = 1e-6 * (1.0 + sqrt(cur / next));
    g_assert_cmpfloat(max_abs_diff_f(down, x, N), <=, 8.0 * scale);
  }
  /* From the clean image (ᾱ = 1) x̂_0 is the image itself. */
  float x[N], eps[N], x0[N], eps_pred[N];
  fill_gaussianish(x, N, 71);
  fill_gaussianish(eps, N, 72);
  ddim_predict(DDIM_PREDICTION_EPSILON, x, eps, N, 1.0, x0, eps_pred);
  g_assert_cmpmem(x0, sizeof x0, x, sizeof x);
}

/* v- and x_0-prediction give the same x̂_0 and ε as ε-prediction when the
 * network is right: v = sqrt(ᾱ)·ε − sqrt(1 − ᾱ)·x_0 (diffusers' definition). */
static void test_prediction_types_agree(void) {
  const double levels[] = {0.95, 0.5, 0.05};
  for (size_t k = 0; k < G_N_ELEMENTS(levels); k++) {
    Truth truth;
    make_truth(&truth, levels[k], 81 + (guint32)k);
    const double a = truth.at;
    float v[N];
    for (int i = 0; i < N; i++) v[i] = (float)(sqrt(a) * truth.eps[i] - sqrt(1 - a) * truth.x0[i]);
    float x0_e[N], eps_e[N], x0_v[N], eps_v[N], x0_s[N], eps_s[N];
    ddim_predict(DDIM_PREDICTION_EPSILON, truth.xt, truth.eps, N, a, x0_e, eps_e);
    ddim_predict(DDIM_PREDICTION_V, truth.xt, v, N, a, x0_v, eps_v);
    ddim_predict(DDIM_PREDICTION_SAMPLE, truth.xt, truth.x0, N, a, x0_s, eps_s);
    const double tol_x0 = 1e-6 / sqrt(a), tol_eps = 1e-6 / sqrt(1 - a);
    g_assert_cmpfloat(max_abs_diff_f(x0_v, truth.x0, N), <=, 2e-6);
    g_assert_cmpfloat(max_abs_diff_f(eps_v, truth.eps, N), <=, 2e-6);
    g_assert_cmpmem(x0_s, sizeof x0_s, truth.x0, sizeof truth.x0);
    g_assert_cmpfloat(max_abs_diff_f(eps_s, truth.eps, N), <=, tol_eps);
    g_assert_cmpfloat(max_abs_diff_f(x0_e, x0_v, N), <=, tol_x0 + 2e-6);
    g_assert_cmpfloat(max_abs_diff_f(eps_e, eps_s, N), <=, tol_eps);
    /* And the steps they drive agree. */
    float out_e[N], out_v[N], out_s[N];
    ddim_step(a, 0.99, 0.0, x0_e, eps_e, NULL, N, out_e);
    ddim_step(a, 0.99, 0.0, x0_v, eps_v, NULL, N, out_v);
    ddim_step(a, 0.99, 0.0, x0_s, eps_s, NULL, N, out_s);
    g_assert_cmpfloat(max_abs_diff_f(out_e, out_v, N), <=, tol_x0 + 4e-6);
    g_assert_cmpfloat(max_abs_diff_f(out_e, out_s, N), <=, tol_x0 + tol_eps);
  }
}

/* An inversion step reads a v- or x_0-output as the ε it means at the level the network
 * was told (ᾱ_t), whatever level the sample is at (ᾱ_cur): all three prediction types
 * then give the same ε and the same x̂_0 = (x − sqrt(1−ᾱ_cur)·ε)/sqrt(ᾱ_cur), and for ε
 * it is ddim_predict at ᾱ_cur, bit for bit. */
static void test_predict_inverse(void) {
  const double at = 0.6, cur = 0.9;
  Truth truth;
  make_truth(&truth, at, 91);
  float x[N], v[N], x0_sample[N];
  fill_gaussianish(x, N, 92); /* any sample: the network's output is what matters */
  for (int i = 0; i < N; i++) {
    /* the x_0 an x_0-model would give for this ε at ᾱ_t on this x, and the v-output
     * consistent with both */
    x0_sample[i] = (float)((x[i] - sqrt(1 - at) * truth.eps[i]) / sqrt(at));
    v[i] = (float)(sqrt(at) * truth.eps[i] - sqrt(1 - at) * x0_sample[i]);
  }
  float x0_e[N], eps_e[N], x0_v[N], eps_v[N], x0_s[N], eps_s[N], x0_ref[N], eps_ref[N];
  ddim_predict_inverse(DDIM_PREDICTION_EPSILON, x, truth.eps, N, cur, at, x0_e, eps_e);
  ddim_predict_inverse(DDIM_PREDICTION_V, x, v, N, cur, at, x0_v, eps_v);
  ddim_predict_inverse(DDIM_PREDICTION_SAMPLE, x, x0_sample, N, cur, at, x0_s, eps_s);
  ddim_predict(DDIM_PREDICTION_EPSILON, x, truth.eps, N, cur, x0_ref, eps_ref);
  g_assert_cmpmem(x0_e, sizeof x0_e, x0_ref, sizeof x0_ref);
  g_assert_cmpmem(eps_e, sizeof eps_e, truth.eps, sizeof truth.eps);
  g_assert_cmpfloat(max_abs_diff_f(eps_v, truth.eps, N), <=, 1e-5);
  g_assert_cmpfloat(max_abs_diff_f(eps_s, truth.eps, N), <=, 1e-5);
  g_assert_cmpfloat(max_abs_diff_f(x0_v, x0_ref, N), <=, 1e-5);
  g_assert_cmpfloat(max_abs_diff_f(x0_s, x0_ref, N), <=, 1e-5);
  /* Converting at ᾱ_cur instead (diffusers' inverse scheduler) gives another ε. */
  float x0_cur[N], eps_cur[N];
  ddim_predict(DDIM_PREDICTION_V, x, v, N, cur, x0_cur, eps_cur);
  g_assert_cmpfloat(max_abs_diff_f(eps_cur, truth.eps, N), >, 0.05);
}

static void test_clip(void) {
  float v[] = {-3.0f, -1.0f, -0.999f, 0.0f, 0.5f, 1.0f, 1.0001f, 250.0f, -INFINITY, INFINITY};
  const float expected1[] = {-1.0f, -1.0f, -0.999f, 0.0f, 0.5f, 1.0f, 1.0f, 1.0f, -1.0f, 1.0f};
  float w[G_N_ELEMENTS(v)];
  memcpy(w, v, sizeof v);
  ddim_clip(w, G_N_ELEMENTS(w), 1.0);
  for (size_t i = 0; i < G_N_ELEMENTS(w); i++) g_assert_true(w[i] == expected1[i]);
  const float expected2[] = {-2.0f, -1.0f, -0.999f, 0.0f, 0.5f, 1.0f, 1.0001f, 2.0f, -2.0f, 2.0f};
  memcpy(w, v, sizeof v);
  ddim_clip(w, G_N_ELEMENTS(w), 2.0);
  for (size_t i = 0; i < G_N_ELEMENTS(w); i++) g_assert_true(w[i] == expected2[i]);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/ddim-step/official-coefficients", test_official_coefficients);
  g_test_add_func("/ddim-step/sigma-properties", test_sigma_properties);
  g_test_add_func("/ddim-step/predict-recovers-x0", test_predict_recovers_x0);
  g_test_add_func("/ddim-step/step-lands-on-forward-process", test_step_lands_on_forward_process);
  g_test_add_func("/ddim-step/final-step-returns-x0", test_final_step_returns_x0);
  g_test_add_func("/ddim-step/stochastic-step", test_stochastic_step);
  g_test_add_func("/ddim-step/inverse-undoes-step", test_inverse_undoes_step);
  g_test_add_func("/ddim-step/prediction-types-agree", test_prediction_types_agree);
  g_test_add_func("/ddim-step/predict-inverse", test_predict_inverse);
  g_test_add_func("/ddim-step/clip", test_clip);
  return g_test_run();
}
