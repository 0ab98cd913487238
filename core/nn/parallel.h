/* parallel.h — the engine's loops on the one OpenMP pool that OpenBLAS's
 * OpenMP build also uses.  Each iteration writes its own outputs and every
 * reduction stays inside one iteration, so results do not depend on the
 * thread count.  Without OpenMP the pragmas vanish and loops run serially. */
#ifndef DDIM_PARALLEL_H
#define DDIM_PARALLEL_H

#define DDIM_PRAGMA(text) _Pragma(#text)

#ifdef _OPENMP
/* Parallel when there is enough work to pay for waking the pool. */
#define DDIM_PARALLEL_FOR_IF(condition) DDIM_PRAGMA(omp parallel for schedule(static) if(condition))
#else
#define DDIM_PARALLEL_FOR_IF(condition)
#endif

/* Elements below which a loop is not worth splitting.  Every parallel region
 * ends in a barrier; on a busy machine a barrier can wait for a descheduled
 * thread for a whole time slice, so small models (16×16 ones have thousands
 * of small regions per run) stay serial. */
#define DDIM_PARALLEL_MIN_WORK (1 << 18)

/* Multiply-adds below which a matrix product or convolution runs on one
 * thread. */
#define DDIM_PARALLEL_MIN_GEMM_WORK (1 << 23)

/* Hand-written AVX2/FMA kernels (conv-direct.c, groupnorm.c's SiLU) are
 * compiled on x86-64 with GCC or Clang and run only where the CPU has both
 * extensions.  __builtin_cpu_supports reads what libgcc's constructor found:
 * no state of ours, so any thread may ask. */
#if defined(__x86_64__) && defined(__GNUC__)
#define DDIM_X86_KERNELS 1
static inline int ddim_cpu_has_avx2_fma(void) {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
#define DDIM_X86_KERNELS 0
static inline int ddim_cpu_has_avx2_fma(void) {
  return 0;
}
#endif

/* Element-wise kernels get an AVX2 copy besides the baseline one, chosen
 * once at load by the CPU (GCC target_clones; glibc ifunc).  Both copies do
 * the same operations in the same order (no FMA contraction under
 * -std=c11), so results do not depend on which one runs. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__) &&       \
    !defined(__SANITIZE_ADDRESS__)
#define DDIM_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define DDIM_VECTOR_CLONES
#endif

#endif
