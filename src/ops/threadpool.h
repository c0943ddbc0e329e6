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

/* Shares that shrink as a job goes on ("guided" scheduling): each task takes 1/(2 n_threads) of
 * the items still left, but at least `min`. Equal shares leave the thread that finishes first
 * idle for up to one share while the other finishes its last; here the last shares are `min`
 * long, so both finish within about that much. The shares depend on n, min and n_threads only. */
static inline long threadpool_guided_share(long left, long min, int n_threads)
{
    long share = left / (2L * n_threads);
    share = share > min ? share : min > 0 ? min : 1;
    return share < left ? share : left;
}

/* How many guided shares n items make. */
static inline int threadpool_guided_tasks(long n, long min, int n_threads)
{
    int tasks = 0;
    for (long left = n; left > 0; tasks++)
        left -= threadpool_guided_share(left, min, n_threads);
    return tasks;
}

/* The share [*begin, *end) of guided task `task` (0 <= task < threadpool_guided_tasks). */
static inline void threadpool_split_guided(long n, long min, int n_threads, int task, long *begin, long *end)
{
    long start = 0;
    for (int i = 0; i < task; i++)
        start += threadpool_guided_share(n - start, min, n_threads);
    *begin = start;
    *end = start + threadpool_guided_share(n - start, min, n_threads);
}

#endif
