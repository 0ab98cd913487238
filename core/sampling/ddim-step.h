/* ddim-step.h — one DDIM step, in closed form (DDIM eqs. 9, 12, 16). */
#ifndef DDIM_STEP_H
#define DDIM_STEP_H

#include "ddim.h"

/* σ_t(η) = η·sqrt((1 − ᾱ_prev)/(1 − ᾱ_t))·sqrt(1 − ᾱ_t/ᾱ_prev)   (eq. 16) */
double ddim_sigma(double alpha_bar_t, double alpha_bar_prev, double eta);

/* From the network output at level ᾱ_t, the predicted x̂_0 (eq. 9) and ε,
 * for ε-, x_0- and v-prediction models (diffusers DDIMScheduler.step). */
void ddim_predict(DdimPrediction prediction, const float *x, const float *model_output, size_t n,
                  double alpha_bar_t, float *x0_pred, float *eps_pred);

/* The same for an inversion step: the network was evaluated at timestep t
 * (level ᾱ_t) on a sample that is at the lower level ᾱ_cur.  Its output is
 * read as the ε it means at t (the assumption of DDIM inversion:
 * ε(x_cur, t) ≈ ε(x_t, t)), and x̂_0 follows from that ε at ᾱ_cur.  For
 * ε-models this is diffusers' DDIMInverseScheduler exactly; for v- and
 * x_0-models diffusers converts with ᾱ_cur instead, which mixes −sqrt(1−ᾱ_t)·x_0
 * into ε and wrecks reconstructions (the default emoji v-model: per-dimension
 * MSE 0.34 instead of 0.0055 at 10 steps, README "Encode"). */
void ddim_predict_inverse(DdimPrediction prediction, const float *x, const float *model_output,
                          size_t n, double alpha_bar_cur, double alpha_bar_t, float *x0_pred,
                          float *eps_pred);

/* x̂_0 ← clamp(x̂_0, −range, range); ε is not recomputed (diffusers'
 * use_clipped_model_output = False). */
void ddim_clip(float *x0_pred, size_t n, double range);

/* x_prev = sqrt(ᾱ_prev)·x̂_0 + sqrt(1 − ᾱ_prev − σ²)·ε + σ·z   (eq. 12).
 * noise may be NULL when σ = 0. */
void ddim_step(double alpha_bar_t, double alpha_bar_prev, double eta, const float *x0_pred,
               const float *eps_pred, const float *noise, size_t n, float *x_prev);

/* Inversion: x_next = sqrt(ᾱ_next)·x̂_0 + sqrt(1 − ᾱ_next)·ε, eq. 12 run
 * upwards with σ = 0. */
void ddim_step_inverse(double alpha_bar_next, const float *x0_pred, const float *eps_pred, size_t n,
                       float *x_next);

#endif
