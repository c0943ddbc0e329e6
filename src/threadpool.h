/* threadpool.h — a persistent pool of worker threads for data-parallel kernels.
 *
 * A forward pass issues many small parallel jobs (every matmul, every attention layer), so
 * workers are created once and wait for work between jobs; the caller's thread takes part as
 * worker 0. A job is a function called once per worker with the worker's index; the function
 * splits its own range (see threadpool_split). threadpool_run returns when every worker is done. */
#ifndef ATTEND_THREADPOOL_H
#define ATTEND_THREADPOOL_H

typedef struct threadpool threadpool;
typedef void (*threadpool_fn)(void *arg, int worker, int n_workers);

threadpool *threadpool_new(int n_threads);     /* n_threads >= 1, including the caller */
void threadpool_free(threadpool *p);
int threadpool_size(const threadpool *p);
void threadpool_run(threadpool *p, threadpool_fn fn, void *arg);

/* The half-open share [*begin, *end) of n items that worker `w` of `n_workers` takes. */
static inline void threadpool_split(long n, int w, int n_workers, long *begin, long *end)
{
    *begin = n * w / n_workers;
    *end = n * (w + 1) / n_workers;
}

#endif
