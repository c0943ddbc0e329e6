/* threadpool.c — persistent workers that spin briefly, then sleep, between jobs.
 *
 * A decode step of a small model is dozens of parallel jobs of a few microseconds each, so the
 * cost of waking a worker matters as much as the work. Workers therefore watch a job counter
 * (`generation`) in a spin loop for a while after each job, which makes the next hand-off a
 * cache-line transfer rather than a futex wake-up; only after ~SPIN_ROUNDS idle polls do they block
 * on a condition variable. The calling thread is worker 0, so a pool of 1 runs jobs inline. */
#include "threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

enum { SPIN_ROUNDS = 1 << 16 };   /* a few tens of microseconds of polling */

struct worker_arg {
    threadpool *pool;
    int index;
};

struct threadpool {
    int n_threads;
    pthread_t *threads;
    struct worker_arg *args;

    /* The current job. Written by the caller before `generation` is bumped (release), read by
     * workers after they see the new generation (acquire). */
    threadpool_fn fn;
    void *arg;
    atomic_uint generation;
    atomic_int pending;          /* workers (other than the caller) still running the job */
    atomic_int stop;

    pthread_mutex_t lock;        /* guards the sleep/wake hand-off only */
    pthread_cond_t wake;
};

static void *worker_main(void *p)
{
    struct worker_arg *wa = p;
    threadpool *pool = wa->pool;
    unsigned seen = 0;
    for (;;) {
        unsigned gen;
        int spins = 0;
        while ((gen = atomic_load_explicit(&pool->generation, memory_order_acquire)) == seen &&
               !atomic_load_explicit(&pool->stop, memory_order_relaxed)) {
            if (++spins < SPIN_ROUNDS) {
                cpu_relax();
                continue;
            }
            /* Idle for a while: sleep. The generation is re-checked under the lock, and the caller
             * bumps it under the same lock, so a wake-up cannot be lost. */
            pthread_mutex_lock(&pool->lock);
            while (atomic_load(&pool->generation) == seen && !atomic_load(&pool->stop))
                pthread_cond_wait(&pool->wake, &pool->lock);
            pthread_mutex_unlock(&pool->lock);
        }
        if (atomic_load(&pool->stop))
            return NULL;
        seen = gen;
        pool->fn(pool->arg, wa->index, pool->n_threads);
        atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_release);
    }
}

threadpool *threadpool_new(int n_threads)
{
    if (n_threads < 1)
        n_threads = 1;
    threadpool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n_threads = n_threads;
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
        if (pthread_create(&p->threads[i], NULL, worker_main, &p->args[i]) != 0) {
            p->n_threads = i;    /* run with the workers we got; free joins exactly these */
            break;
        }
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
        if (p->threads)
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

void threadpool_run(threadpool *p, threadpool_fn fn, void *arg)
{
    if (p->n_threads == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->pending, p->n_threads - 1, memory_order_relaxed);
    pthread_mutex_lock(&p->lock);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);

    fn(arg, 0, p->n_threads);
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0)
        cpu_relax();
}
