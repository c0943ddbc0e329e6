/* threadpool.h — a persistent pool of worker threads for data-parallel kernels.
 *
 * A forward pass issues many small parallel jobs (every matmul, every attention layer), so
 * workers are created once and wait for work between jobs. A job is n_tasks independent tasks;
 * the caller's thread and the workers claim tasks one at a time until none is left, so a worker
 * that the OS has not scheduled yet simply gets fewer (or none): the job never waits for it to
 * start. threadpool_run returns when every task is done. */
#ifndef ATTEND_THREADPOOL_H
#define ATTEND_THREADPOOL_H

typedef struct threadpool threadpool;
/* Run task `task` (0 <= task < n_tasks). `worker` (0 = the caller, < threadpool_size) identifies
 * the thread, so a task may use per-worker scratch memory. */
typedef void (*threadpool_fn)(void *arg, int task, int n_tasks, int worker);

threadpool *threadpool_new(int n_threads);     /* n_threads >= 1, including the caller */
void threadpool_free(threadpool *p);
int threadpool_size(const threadpool *p);
void threadpool_run(threadpool *p, threadpool_fn fn, void *arg, int n_tasks);
/* Profiling: while `seconds` is not NULL, threadpool_run adds to it the time the caller spends
 * waiting for workers after it has run out of tasks, and counts the parallel jobs in `jobs`. */
void threadpool_time_waits(threadpool *p, double *seconds, long *jobs);

/* The half-open share [*begin, *end) of n items that task `task` of `n_tasks` covers. */
static inline void threadpool_split(long n, int task, int n_tasks, long *begin, long *end)
{
    *begin = n * task / n_tasks;
    *end = n * (task + 1) / n_tasks;
}

#endif
