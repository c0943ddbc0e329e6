/* test.h — the smallest test harness that can fail.
 *
 * Each test is a function; RUN(fn) calls it and prints one line:
 *   ok <name>          every CHECK held
 *   FAIL <name>: ...   the first CHECK that did not (later checks in that test are skipped)
 *   skip <name>: why   the test called SKIP (e.g. ../shared is absent)
 * tests/run_tests.sh counts these lines over all test programs. */
#ifndef ATTEND_TEST_H
#define ATTEND_TEST_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <unistd.h>

static jmp_buf test_jmp_;
static int test_skipped_;
static char test_msg_[512];
static int test_failures_;

#define CHECK(cond) do { if (!(cond)) { \
    snprintf(test_msg_, sizeof test_msg_, "%s:%d: CHECK(%s)", __FILE__, __LINE__, #cond); \
    longjmp(test_jmp_, 1); } } while (0)

/* CHECKF(cond, fmt, ...): like CHECK with a formatted explanation. */
#define CHECKF(cond, ...) do { if (!(cond)) { \
    int n_ = snprintf(test_msg_, sizeof test_msg_, "%s:%d: ", __FILE__, __LINE__); \
    snprintf(test_msg_ + n_, sizeof test_msg_ - (size_t)n_, __VA_ARGS__); \
    longjmp(test_jmp_, 1); } } while (0)

#define SKIP(...) do { snprintf(test_msg_, sizeof test_msg_, __VA_ARGS__); \
    test_skipped_ = 1; longjmp(test_jmp_, 1); } while (0)

#define RUN(fn) do { test_skipped_ = 0; \
    if (setjmp(test_jmp_) == 0) { fn(); printf("ok %s\n", #fn); } \
    else if (test_skipped_) printf("skip %s: %s\n", #fn, test_msg_); \
    else { printf("FAIL %s: %s\n", #fn, test_msg_); test_failures_++; } \
    fflush(stdout); } while (0)

#define TEST_EXIT() return test_failures_ ? 1 : 0

/* xorshift64 (Marsaglia): advances a test's own random state and returns it. Each test file keeps
 * its seed and its way of turning the state into numbers. */
static inline uint64_t test_xorshift(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

/* |got - want| within rel of sum |w_i x_i| (the magnitude): the scale of the rounding error of any
 * summation order, also when the sum itself cancels to near zero. */
static inline int test_close_to(double got, double want, double magnitude, double rel)
{
    return fabs(got - want) <= rel * magnitude + 1e-30;
}

/* n bytes that end where an unreadable page begins, so that a kernel reading past them faults
 * (no sanitizer needed). Aborts if the pages cannot be had. Free with test_guarded_free(p, n). */
static inline void *test_guarded_alloc(size_t n)
{
    const size_t page = (size_t)sysconf(_SC_PAGESIZE), span = (n + page - 1) / page * page;
    char *p = mmap(NULL, span + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || mprotect(p + span, page, PROT_NONE) != 0) {
        fprintf(stderr, "test_guarded_alloc: no memory for %zu bytes and a guard page\n", n);
        abort();
    }
    return p + span - n;
}

static inline void test_guarded_free(void *p, size_t n)
{
    const size_t page = (size_t)sysconf(_SC_PAGESIZE), span = (n + page - 1) / page * page;
    munmap((char *)p + n - span, span + page);
}

/* Where ../shared is, or NULL (the caller SKIPs). Honours $ATTEND_SHARED. */
static inline const char *test_shared_dir(void)
{
    const char *d = getenv("ATTEND_SHARED");
    if (!d) d = "../shared";
    FILE *f;
    char p[1024];
    snprintf(p, sizeof p, "%s/models/stories260K/stories260K.gguf", d);
    if (!(f = fopen(p, "rb"))) return NULL;
    fclose(f);
    return d;
}

#endif
