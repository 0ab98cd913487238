/* ddim-step.c — how a DDIM step is taken.
 *
 * Coefficients are computed in double from the float32 ᾱ table and applied
 * in float32, as the reference implementations do (to float rounding). */
#include "ddim-step.h"

#include <math.h>

double ddim_sigma(double alpha_bar_t, double alpha_bar_prev, double eta) {
  if (eta == 0.0) return 0.0;
  double variance =
      (1.0 - alpha_bar_prev) / (1.0 - alpha_bar_t) * (1.0 - alpha_bar_t / alpha_bar_prev);
  return variance > 0.0 ? eta * sqrt(variance) : 0.0;
}

void ddim_predict(DdimPrediction prediction, const float *x, const float *model_output, size_t n,
                  double alpha_bar_t, float *x0_pred, float *eps_pred) {
  const double sqrt_alpha = sqrt(alpha_bar_t);
  const double sqrt_one_minus = sqrt(1.0 - alpha_bar_t);
  switch (prediction) {
  case DDIM_PREDICTION_SAMPLE: {
    /* At ᾱ = 1 (a clean sample) ε is undefined; it does not matter there. */
    const float inv = sqrt_one_minus > 1e-12 ? (float)(1.0 / sqrt_one_minus) : 0.0f;
    for (size_t i = 0; i < n; i++) {
      x0_pred[i] = model_output[i];
      eps_pred[i] = (x[i] - (float)sqrt_alpha * x0_pred[i]) * inv;
    }
    break;
  }
  case DDIM_PREDICTION_V:
    for (size_t i = 0; i < n; i++) {
      float v = model_output[i], xi = x[i];
      x0_pred[i] = (float)sqrt_alpha * xi - (float)sqrt_one_minus * v;
      eps_pred[i] = (float)sqrt_alpha * v + (float)sqrt_one_minus * xi;
    }
    break;
  case DDIM_PREDICTION_EPSILON:
  default: {
    const float inv_sqrt_alpha = (float)(1.0 / sqrt_alpha);
    for (size_t i = 0; i < n; i++) {
      float eps = model_output[i];
      x0_pred[i] = (x[i] - (float)sqrt_one_minus * eps) * inv_sqrt_alpha;
      eps_pred[i] = eps;
    }
    break;
  }
  }
}

void ddim_predict_inverse(DdimPrediction prediction, const float *x, const float *model_output,
                          size_t n, double alpha_bar_cur, double alpha_bar_t, float *x0_pred,
                          float *eps_pred) {
  ddim_predict(prediction, x, model_output, n, alpha_bar_t, x0_pred, eps_pred);
  /* In place (element-wise read before write): ε stays, x̂_0 = (x − sqrt(1−ᾱ_cur)·ε)/sqrt(ᾱ_cur). */
  ddim_predict(DDIM_PREDICTION_EPSILON, x, eps_pred, n, alpha_bar_cur, x0_pred, eps_pred);
}

void ddim_clip(float *x0_pred, size_t n, double range) {
  const float hi = (float)range, lo = -(float)range;
  for (size_t i = 0; i < n; i++)
    x0_pred[i] = x0_pred[i] < lo ? lo : x0_pred[i] > hi ? hi : x0_pred[i];
}

void ddim_step(double alpha_bar_t, double alpha_bar_prev, double eta, const float *x0_pred,
               const float *eps_pred, const float *noise, size_t n, float *x_prev) {
  const double sigma = ddim_sigma(alpha_bar_t, alpha_bar_prev, eta);
  const double direction = 1.0 - alpha_bar_prev - sigma * sigma;
  const float coef_x0 = (float)sqrt(alpha_bar_prev);
  const float coef_eps = (float)sqrt(direction > 0.0 ? direction : 0.0);
  const float coef_noise = (float)sigma;
  if (noise && sigma > 0.0) {
    for (size_t i = 0; i < n; i++)
      x_prev[i] = coef_x0 * x0_pred[i] + coef_eps * eps_pred[i] + coef_noise * noise[i];
  } else {
    for (size_t i = 0; i < n; i++) x_prev[i] = coef_x0 * x0_pred[i] + coef_eps * eps_pred[i];
  }
}

void ddim_step_inverse(double alpha_bar_next, const float *x0_pred, const float *eps_pred, size_t n,
                       float *x_next) {
  const float coef_x0 = (float)sqrt(alpha_bar_next);
  const float coef_eps = (float)sqrt(1.0 - alpha_bar_next);
  for (size_t i = 0; i < n; i++) x_next[i] = coef_x0 * x0_pred[i] + coef_eps * eps_pred[i];
}
