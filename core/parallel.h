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

#endif
