/* threads.c — one thread count for OpenBLAS and the engine.
 *
 * With the OpenMP build of OpenBLAS both use libgomp's pool, so one setting
 * sizes the only pool there is: no oversubscription. */
#include "ddim.h"

#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef DDIM_HAVE_OPENBLAS_THREADS
extern void openblas_set_num_threads(int num_threads);
#endif

static int configured_threads = 0;

static int online_cores(void) {
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  return cores > 0 ? (int)cores : 1;
}

void ddim_set_threads(int threads) {
  int cores = online_cores();
  if (threads <= 0) threads = cores;
  if (threads > 256) threads = 256;
  configured_threads = threads;
#ifdef _OPENMP
  /* OpenBLAS runs single-threaded; the engine shares each product out in
   * tiles over the OpenMP pool (gemm.c), so results do not depend on the
   * thread count.  The OpenMP build of openblas_set_num_threads() also sets
   * the OpenMP thread count, hence this order. */
#ifdef DDIM_HAVE_OPENBLAS_THREADS
  openblas_set_num_threads(1);
#endif
  omp_set_num_threads(threads);
#elif defined(DDIM_HAVE_OPENBLAS_THREADS)
  /* Without OpenMP there is no pool to share tiles over, and OpenBLAS's own
   * threading would make results depend on the thread count: one thread. */
  openblas_set_num_threads(1);
#endif
}

int ddim_get_threads(void) {
  return configured_threads > 0 ? configured_threads : online_cores();
}
