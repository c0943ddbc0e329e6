/* threadpool.c — persistent workers that claim tasks, spinning briefly, then sleeping, between jobs.
 *
 * A decode step of a small model is dozens of parallel jobs of a few microseconds each, so the
 * cost of handing out work matters as much as the work. Two decisions follow:
 *   - Workers poll for the next job for a short while after each one, so a hand-off is usually a
 *     cache-line transfer rather than a futex wake-up; then they sleep on a condition variable.
 *   - Tasks are claimed, not assigned. The caller claims tasks too, so when the machine is busy
 *     and a worker is not running, the caller does its share instead of waiting for it.
 * Every claim is stamped with the job's number (`ticket` = job << 32 | next task), so a worker
 * that wakes late can never take a task of a later job with the function of an earlier one. */
#include "threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

enum {
    SPIN_ROUNDS = 1 << 15,   /* idle polls before a worker sleeps (tens of microseconds) */
    YIELD_EVERY = 1 << 8,    /* polls between sched_yield()s, so a busy core lets others run */
};

struct worker_arg {
    threadpool *pool;
    int index;
};

struct threadpool {
    int n_threads;
    pthread_t *threads;
    struct worker_arg *args;

    /* The current job, written under `lock` before `job` is bumped. */
    threadpool_fn fn;
    void *arg;
    int n_tasks;
    atomic_uint job;             /* job number; a change means new work */
    atomic_uint_least64_t ticket;   /* job << 32 | index of the next unclaimed task */
    atomic_int done;             /* tasks finished in the current job */
    atomic_int stop;

    pthread_mutex_t lock;
    pthread_cond_t wake;

    double *wait_seconds;        /* profiling (threadpool_time_waits), else NULL */
    long *wait_jobs;
};

/* Claim and run tasks of job `job` until none is left. */
static void work(threadpool *p, unsigned job, threadpool_fn fn, void *arg, int n_tasks, int worker)
{
    uint64_t t = atomic_load_explicit(&p->ticket, memory_order_relaxed);
    for (;;) {
        if ((unsigned)(t >> 32) != job || (int)(uint32_t)t >= n_tasks)
            return;
        if (atomic_compare_exchange_weak_explicit(&p->ticket, &t, t + 1, memory_order_acq_rel,
                                                  memory_order_relaxed)) {
            fn(arg, (int)(uint32_t)t, n_tasks, worker);
            atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
            t = atomic_load_explicit(&p->ticket, memory_order_relaxed);
        }
    }
}

static void *worker_main(void *v)
{
    struct worker_arg *wa = v;
    threadpool *p = wa->pool;
    unsigned seen = 0;
    for (;;) {
        int spins = 0;
        while (atomic_load_explicit(&p->job, memory_order_acquire) == seen && !atomic_load(&p->stop)) {
            if (++spins < SPIN_ROUNDS) {
                cpu_relax();
                if (spins % YIELD_EVERY == 0)
                    sched_yield();
                continue;
            }
            pthread_mutex_lock(&p->lock);
            while (atomic_load(&p->job) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->wake, &p->lock);
            pthread_mutex_unlock(&p->lock);
        }
        /* Copy the job under the lock so its three fields belong to one job. */
        pthread_mutex_lock(&p->lock);
        if (atomic_load(&p->stop)) {
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        seen = atomic_load(&p->job);
        threadpool_fn fn = p->fn;
        void *arg = p->arg;
        int n_tasks = p->n_tasks;
        pthread_mutex_unlock(&p->lock);
        work(p, seen, fn, arg, n_tasks, wa->index);
    }
}

threadpool *threadpool_new(int n_threads)
{
    if (n_threads < 1)
        n_threads = 1;
    threadpool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n_threads = 1;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    p->args = calloc((size_t)n_threads, sizeof *p->args);
    if (!p->threads || !p->args) {
        threadpool_free(p);
        return NULL;
    }
    for (int i = 1; i < n_threads; i++) {
        p->args[i] = (struct worker_arg){p, i};
        if (pthread_create(&p->threads[i], NULL, worker_main, &p->args[i]) != 0)
            break;   /* run with the workers we got */
        p->n_threads = i + 1;
    }
    return p;
}

void threadpool_free(threadpool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 1; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    free(p->threads);
    free(p->args);
    free(p);
}

int threadpool_size(const threadpool *p)
{
    return p->n_threads;
}

void threadpool_run(threadpool *p, threadpool_fn fn, void *arg, int n_tasks)
{
    if (n_tasks <= 0)
        return;
    if (p->n_threads == 1 || n_tasks == 1) {
        for (int t = 0; t < n_tasks; t++)
            fn(arg, t, n_tasks, 0);
        return;
    }
    pthread_mutex_lock(&p->lock);
    unsigned job = atomic_load(&p->job) + 1;
    p->fn = fn;
    p->arg = arg;
    p->n_tasks = n_tasks;
    atomic_store(&p->done, 0);
    atomic_store(&p->ticket, (uint64_t)job << 32);
    atomic_store_explicit(&p->job, job, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);

    work(p, job, fn, arg, n_tasks, 0);
    /* Every task is claimed; wait for the ones still running elsewhere. */
    struct timespec t0, t1;
    if (p->wait_seconds)
        clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int spins = 1; atomic_load_explicit(&p->done, memory_order_acquire) < n_tasks; spins++) {
        cpu_relax();
        if (spins % YIELD_EVERY == 0)
            sched_yield();
    }
    if (p->wait_seconds) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        *p->wait_seconds += (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
        (*p->wait_jobs)++;
    }
}

void threadpool_time_waits(threadpool *p, double *seconds, long *jobs)
{
    p->wait_seconds = seconds;
    p->wait_jobs = jobs;
}
