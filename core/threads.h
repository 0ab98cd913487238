/* threads.h — internal: nothing beyond the public ddim_set_threads yet. */
#ifndef DDIM_THREADS_H
#define DDIM_THREADS_H
#include "ddim.h"
#endif
