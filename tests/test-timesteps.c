/* test-timesteps.c — the timesteps each schedule visits.
 *
 * Expected lists: the tables of shared/reference/ddim-paper-and-official-code.md
 * §1.3 (official uniform / quad seq) and diffusers-unet-ddim-safetensors.md
 * §3.3 (leading / trailing / linspace), plus computations here that follow
 * the documented numpy rules. */
#include "ddim.h"
#include "timesteps.h"

#include <math.h>
#include <string.h>

static int make(DdimSchedule schedule, int T, int steps, int offset, int **out) {
  g_autoptr(GError) error = NULL;
  int n = ddim_timesteps_make(schedule, T, steps, offset, out, &error);
  if (n == 0)
    g_error("%s S=%d: %s", ddim_schedule_name(schedule), steps, error ? error->message : "?");
  g_assert_no_error(error);
  return n;
}

static void assert_list(DdimSchedule schedule, int T, int steps, int offset, const int *expected,
                        int count) {
  g_autofree int *t = NULL;
  int n = make(schedule, T, steps, offset, &t);
  g_assert_cmpint(n, ==, count);
  for (int i = 0; i < n; i++)
    if (t[i] != expected[i])
      g_error("%s S=%d: t[%d] = %d, expected %d", ddim_schedule_name(schedule), steps, i, t[i],
              expected[i]);
}

static void assert_valid(const int *t, int n, int T) {
  g_assert_cmpint(n, >=, 1);
  for (int i = 0; i < n; i++) {
    g_assert_cmpint(t[i], >=, 0);
    g_assert_cmpint(t[i], <, T);
    if (i) g_assert_cmpint(t[i], >, t[i - 1]);
  }
}

/* ---- uniform (official "uniform", diffusers "leading") -------------------- */

static void test_uniform(void) {
  int expected[1000];
  for (int i = 0; i < 10; i++) expected[i] = 100 * i; /* 0..900 */
  assert_list(DDIM_SCHEDULE_UNIFORM, 1000, 10, 0, expected, 10);
  for (int i = 0; i < 20; i++) expected[i] = 50 * i; /* 0..950 */
  assert_list(DDIM_SCHEDULE_UNIFORM, 1000, 20, 0, expected, 20);
  for (int i = 0; i < 50; i++) expected[i] = 20 * i; /* 0..980 */
  assert_list(DDIM_SCHEDULE_UNIFORM, 1000, 50, 0, expected, 50);
  for (int i = 0; i < 100; i++) expected[i] = 10 * i;
  assert_list(DDIM_SCHEDULE_UNIFORM, 1000, 100, 0, expected, 100);
  for (int i = 0; i < 1000; i++) expected[i] = i;
  assert_list(DDIM_SCHEDULE_UNIFORM, 1000, 1000, 0, expected, 1000);
  /* diffusers leading: arange(S)·(T//S); S = 30 → stride 33, 0..957. */
  for (int i = 0; i < 30; i++) expected[i] = 33 * i;
  assert_list(DDIM_SCHEDULE_UNIFORM, 1000, 30, 0, expected, 30);
  /* steps_offset 1 (Stable-Diffusion-style configs): 1, 101, ..., 901. */
  for (int i = 0; i < 10; i++) expected[i] = 100 * i + 1;
  assert_list(DDIM_SCHEDULE_UNIFORM, 1000, 10, 1, expected, 10);
  /* S = 1: the single step is t = 0 (+ offset). */
  expected[0] = 0;
  assert_list(DDIM_SCHEDULE_UNIFORM, 1000, 1, 0, expected, 1);
}

/* ---- quadratic (official "quad") ----------------------------------------- */

/* numpy semantics: linspace(0, sqrt(0.8·T), S) is i·step with step =
 * stop/(S−1) and the last value set to stop; squared; int() truncates. */
static int official_quad(int T, int S, int *seq) {
  double stop = sqrt(T * 0.8);
  double step = stop / (S - 1);
  for (int i = 0; i < S; i++) {
    double y = i == S - 1 ? stop : i * step;
    seq[i] = (int)(y * y);
  }
  return S;
}

static int count_unique_sorted(const int *seq, int n) {
  int unique = 0;
  for (int i = 0; i < n; i++)
    if (i == 0 || seq[i] != seq[i - 1]) unique++;
  return unique;
}

static void test_quadratic(void) {
  const int s10[] = {0, 9, 39, 88, 158, 246, 355, 483, 632, 800};
  assert_list(DDIM_SCHEDULE_QUADRATIC, 1000, 10, 0, s10, 10);
  const int s20[] = {0,   2,   8,   19,  35,  55,  79,  108, 141, 179,
                     221, 268, 319, 374, 434, 498, 567, 640, 718, 800};
  assert_list(DDIM_SCHEDULE_QUADRATIC, 1000, 20, 0, s20, 20);

  /* S = 50: 50 entries [0, 0, 1, 2, 5, 8, 11, 16, ..., 736, 767, 800], 49 unique. */
  g_autofree int *t = NULL;
  int n = make(DDIM_SCHEDULE_QUADRATIC, 1000, 50, 0, &t);
  g_assert_cmpint(n, ==, 49);
  const int head[] = {0, 1, 2, 5, 8, 11, 16};
  for (int i = 0; i < 7; i++) g_assert_cmpint(t[i], ==, head[i]);
  g_assert_cmpint(t[n - 3], ==, 736);
  g_assert_cmpint(t[n - 2], ==, 767);
  g_assert_cmpint(t[n - 1], ==, 800);

  /* Unique counts from the reference table. */
  const struct { int steps, unique; } counts[] = {{100, 96}, {200, 187}, {1000, 688}};
  for (size_t k = 0; k < G_N_ELEMENTS(counts); k++) {
    g_autofree int *u = NULL;
    int m = make(DDIM_SCHEDULE_QUADRATIC, 1000, counts[k].steps, 0, &u);
    g_assert_cmpint(m, ==, counts[k].unique);
    g_assert_cmpint(u[m - 1], ==, 800); /* top timestep is 0.8·T */
  }

  /* Every S: the unique values of the numpy computation, in order. */
  int seq[1000];
  for (int S = 2; S <= 1000; S++) {
    official_quad(1000, S, seq); /* already non-decreasing */
    int unique[1000], u = 0;
    for (int i = 0; i < S; i++)
      if (u == 0 || seq[i] != unique[u - 1]) unique[u++] = seq[i];
    g_assert_cmpint(u, ==, count_unique_sorted(seq, S));
    g_autofree int *got = NULL;
    int m = make(DDIM_SCHEDULE_QUADRATIC, 1000, S, 0, &got);
    if (m != u) g_error("quad S=%d: %d unique, expected %d", S, m, u);
    for (int i = 0; i < m; i++)
      if (got[i] != unique[i])
        g_error("quad S=%d: t[%d] = %d, expected %d", S, i, got[i], unique[i]);
  }
  /* Values landing just below an integer are truncated like numpy
   * (reference §1.3).  S = 101: (i·step)² = 0.08·i² in exact arithmetic, so
   * i = 10 would give 8 and i = 20 give 32; float64 gives 7.9999999999999982
   * and 31.999999999999993, truncated to 7 and 31.  Neighbours i = 9, 11
   * (6.48, 9.68) and 19, 21 (28.88, 35.28) give neither value. */
  g_autofree int *s101 = NULL;
  int m = make(DDIM_SCHEDULE_QUADRATIC, 1000, 101, 0, &s101);
  gboolean has7 = FALSE, has8 = FALSE, has31 = FALSE, has32 = FALSE;
  for (int i = 0; i < m; i++) {
    has7 |= s101[i] == 7;
    has8 |= s101[i] == 8;
    has31 |= s101[i] == 31;
    has32 |= s101[i] == 32;
  }
  g_assert_true(has7 && !has8);
  g_assert_true(has31 && !has32);
  /* S = 11: (i·step)² = 8·i², landing just above the integers (8.000000000000002 → 8). */
  const int s11[] = {0, 8, 32, 72, 128, 200, 288, 392, 512, 648, 800};
  assert_list(DDIM_SCHEDULE_QUADRATIC, 1000, 11, 0, s11, 11);
}

/* ---- trailing (diffusers) ------------------------------------------------ */

static void test_trailing(void) {
  int expected[1000];
  for (int i = 0; i < 50; i++) expected[i] = 20 * i + 19; /* 19, 39, ..., 999 */
  assert_list(DDIM_SCHEDULE_TRAILING, 1000, 50, 0, expected, 50);
  for (int i = 0; i < 10; i++) expected[i] = 100 * i + 99; /* 99, ..., 999 */
  assert_list(DDIM_SCHEDULE_TRAILING, 1000, 10, 0, expected, 10);
  for (int i = 0; i < 1000; i++) expected[i] = i;
  assert_list(DDIM_SCHEDULE_TRAILING, 1000, 1000, 0, expected, 1000);
  expected[0] = 999;
  assert_list(DDIM_SCHEDULE_TRAILING, 1000, 1, 0, expected, 1);
  /* Every S against round(T − i·T/S) − 1, i = 0..S−1 (the arange values;
   * an extra numpy entry near 0 would give −1 and is dropped).  Where
   * i·T/S is exactly halfway between integers, float64 decides the tie, so
   * there either neighbour is accepted. */
  const int T = 1000;
  int ties = 0;
  for (int S = 1; S <= T; S++) {
    g_autofree int *t = NULL;
    int n = make(DDIM_SCHEDULE_TRAILING, T, S, 0, &t);
    g_assert_cmpint(t[n - 1], ==, T - 1);
    g_assert_cmpint(n, ==, S);
    for (int i = 0; i < S; i++) {
      const int got = t[S - 1 - i]; /* t is ascending, i counts down from T */
      const long long rem = ((long long)i * T) % S;
      const double v = (double)T - (double)i * T / S;
      if (2 * rem == S) {
        ties++;
        g_assert_true(got == (int)floor(v) - 1 || got == (int)ceil(v) - 1);
      } else if (got != (int)lround(v) - 1) {
        g_error("trailing S=%d: t = %d, expected %d", S, got, (int)lround(v) - 1);
      }
    }
  }
  g_test_message("trailing: %d exact ties", ties);
}

/* ---- linspace (diffusers) ------------------------------------------------- */

/* np.linspace(0, T−1, S).round(): y_i = i·step (step = (T−1)/(S−1)), the
 * last value exactly T−1, rounded half to even (rint). */
static int numpy_linspace_round(int T, int S, int i) {
  if (S == 1) return 0;
  if (i == S - 1) return T - 1;
  double step = (double)(T - 1) / (double)(S - 1);
  return (int)rint((double)i * step);
}

static void test_linspace(void) {
  g_autofree int *t = NULL;
  int n = make(DDIM_SCHEDULE_LINSPACE, 1000, 50, 0, &t);
  g_assert_cmpint(n, ==, 50);
  g_assert_cmpint(t[0], ==, 0);
  g_assert_cmpint(t[1], ==, 20);
  g_assert_cmpint(t[47], ==, 958);
  g_assert_cmpint(t[48], ==, 979);
  g_assert_cmpint(t[49], ==, 999);
  /* S = 3: 499.5 rounds half to even → 500. */
  const int s3[] = {0, 500, 999};
  assert_list(DDIM_SCHEDULE_LINSPACE, 1000, 3, 0, s3, 3);
  /* T = 12, S = 3: 5.5 → 6 (even);  T = 10, S = 3: 4.5 → 4 (even). */
  const int t12[] = {0, 6, 11}, t10[] = {0, 4, 9};
  assert_list(DDIM_SCHEDULE_LINSPACE, 12, 3, 0, t12, 3);
  assert_list(DDIM_SCHEDULE_LINSPACE, 10, 3, 0, t10, 3);
  const int s1[] = {0};
  assert_list(DDIM_SCHEDULE_LINSPACE, 1000, 1, 0, s1, 1);

  /* Every S against the numpy computation.  (Where i·(T−1)/(S−1) is an
   * exact tie, float64 i·step usually lands just off .5, and numpy follows
   * the float: that is what diffusers gets, so that is what we check.) */
  for (int S = 1; S <= 1000; S++) {
    g_autofree int *got = NULL;
    int m = make(DDIM_SCHEDULE_LINSPACE, 1000, S, 0, &got);
    int expected[1000], u = 0;
    for (int i = 0; i < S; i++) {
      int v = numpy_linspace_round(1000, S, i);
      if (u == 0 || v != expected[u - 1]) expected[u++] = v;
    }
    if (m != u) g_error("linspace S=%d: %d values, expected %d", S, m, u);
    for (int i = 0; i < m; i++)
      if (got[i] != expected[i])
        g_error("linspace S=%d: t[%d] = %d, expected %d", S, i, got[i], expected[i]);
  }
}

/* ---- errors, names, invariants ------------------------------------------ */

static void test_bad_steps(void) {
  const int bad[] = {0, -1, 1001, 1 << 30};
  for (int schedule = 0; schedule < 4; schedule++)
    for (size_t k = 0; k < G_N_ELEMENTS(bad); k++) {
      g_autoptr(GError) error = NULL;
      int *t = (int *)0x1; /* must be reset */
      int n = ddim_timesteps_make((DdimSchedule)schedule, 1000, bad[k], 0, &t, &error);
      g_assert_cmpint(n, ==, 0);
      g_assert_null(t);
      g_assert_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT);
    }
  g_autoptr(GError) error = NULL;
  int *t = NULL;
  g_assert_cmpint(ddim_timesteps_make((DdimSchedule)99, 1000, 10, 0, &t, &error), ==, 0);
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT);
}

static void test_names(void) {
  const struct {
    const char *name;
    DdimSchedule schedule;
  } names[] = {
      {"uniform", DDIM_SCHEDULE_UNIFORM},     {"leading", DDIM_SCHEDULE_UNIFORM},
      {"quadratic", DDIM_SCHEDULE_QUADRATIC}, {"quad", DDIM_SCHEDULE_QUADRATIC},
      {"trailing", DDIM_SCHEDULE_TRAILING},   {"linspace", DDIM_SCHEDULE_LINSPACE},
      {"UNIFORM", DDIM_SCHEDULE_UNIFORM},     {"Quad", DDIM_SCHEDULE_QUADRATIC},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
    DdimSchedule s = (DdimSchedule)-1;
    g_assert_true(ddim_schedule_from_name(names[i].name, &s));
    g_assert_cmpint(s, ==, names[i].schedule);
  }
  DdimSchedule s = DDIM_SCHEDULE_TRAILING;
  g_assert_false(ddim_schedule_from_name("cosine", &s));
  g_assert_false(ddim_schedule_from_name("", &s));
  g_assert_false(ddim_schedule_from_name("uniformx", &s));
  g_assert_cmpint(s, ==, DDIM_SCHEDULE_TRAILING); /* untouched on failure */
  /* Names round-trip. */
  for (int k = 0; k < 4; k++) {
    DdimSchedule back;
    g_assert_true(ddim_schedule_from_name(ddim_schedule_name((DdimSchedule)k), &back));
    g_assert_cmpint(back, ==, k);
  }
  g_assert_cmpstr(ddim_schedule_name(DDIM_SCHEDULE_UNIFORM), ==, "uniform");
  g_assert_cmpstr(ddim_schedule_name(DDIM_SCHEDULE_QUADRATIC), ==, "quadratic");
  g_assert_cmpstr(ddim_schedule_name(DDIM_SCHEDULE_TRAILING), ==, "trailing");
  g_assert_cmpstr(ddim_schedule_name(DDIM_SCHEDULE_LINSPACE), ==, "linspace");
}

/* Every schedule, every S, several T and offsets: ascending, unique, in [0, T). */
static void test_invariants(void) {
  const int Ts[] = {1000, 500, 37, 2};
  const int offsets[] = {0, 1, 7};
  for (size_t a = 0; a < G_N_ELEMENTS(Ts); a++)
    for (size_t o = 0; o < G_N_ELEMENTS(offsets); o++)
      for (int schedule = 0; schedule < 4; schedule++)
        for (int S = 1; S <= Ts[a]; S++) {
          g_autoptr(GError) error = NULL;
          g_autofree int *t = NULL;
          int n = ddim_timesteps_make((DdimSchedule)schedule, Ts[a], S, offsets[o], &t, &error);
          if (n == 0) {
            /* Only a uniform schedule pushed entirely past T by its offset
             * (its lowest value is the offset) may be empty. */
            g_assert_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT);
            g_assert_cmpint(schedule, ==, DDIM_SCHEDULE_UNIFORM);
            g_assert_cmpint(offsets[o], >=, Ts[a]);
            continue;
          }
          g_assert_no_error(error);
          g_assert_cmpint(n, <=, S);
          assert_valid(t, n, Ts[a]);
          if (schedule == DDIM_SCHEDULE_UNIFORM && offsets[o] == 0) g_assert_cmpint(n, ==, S);
        }
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/timesteps/uniform", test_uniform);
  g_test_add_func("/timesteps/quadratic", test_quadratic);
  g_test_add_func("/timesteps/trailing", test_trailing);
  g_test_add_func("/timesteps/linspace", test_linspace);
  g_test_add_func("/timesteps/bad-steps", test_bad_steps);
  g_test_add_func("/timesteps/names", test_names);
  g_test_add_func("/timesteps/invariants", test_invariants);
  return g_test_run();
}
