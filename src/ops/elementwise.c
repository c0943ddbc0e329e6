/* elementwise.c — RMSNorm, RoPE, softmax and SwiGLU: per-token loops, memory-light. */
#include "ops/elementwise.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

void rmsnorm(float *out, const float *x, const float *weight, int n, float eps)
{
    /* Sum in double: a long residual stream of large values should not lose the small ones. Eight
     * independent partial sums, so that the compiler keeps them in two vector registers instead
     * of waiting on one addition after another (no reordering that -ffast-math would need). */
    double part[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            part[j] += (double)x[i + j] * x[i + j];
    double ss = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
    for (; i < n; i++)
        ss += (double)x[i] * x[i];
    float inv_rms = (float)(1.0 / sqrt(ss / n + eps));
    for (i = 0; i < n; i++)
        out[i] = x[i] * inv_rms * weight[i];
}

void rope_angles(float *cos_out, float *sin_out, int rope_dim, int pos, float base)
{
    for (int i = 0; i < rope_dim / 2; i++) {
        /* In double: pos * theta reaches thousands of radians, where float loses the phase. */
        double theta = pow((double)base, -2.0 * i / rope_dim);
        double angle = pos * theta;
        cos_out[i] = (float)cos(angle);
        sin_out[i] = (float)sin(angle);
    }
}

void rope(float *v, int n_heads, int head_dim, int rope_dim, const float *cos, const float *sin)
{
    for (int h = 0; h < n_heads; h++) {
        float *head = v + (size_t)h * head_dim;
        for (int i = 0; i < rope_dim / 2; i++) {
            float a = head[2 * i], b = head[2 * i + 1];
            head[2 * i] = a * cos[i] - b * sin[i];
            head[2 * i + 1] = a * sin[i] + b * cos[i];
        }
    }
}

void softmax(float *x, int n)
{
    float max = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > max)
            max = x[i];
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++)
        x[i] *= inv;
}

/* e^x in plain C that the compiler vectorizes (a call to expf stops it: SwiGLU spent 6 ns per
 * element in it, 5 % of prefill). e^x = 2^n * 2^f with n = round(x / ln 2), |f| <= 1/2, and 2^f
 * by its Taylor series to degree 6: relative error ~1e-7, float rounding. x / ln 2 is clamped to
 * [-126, 127], where 2^n is a normal float: e^x below 2^-126 comes out as ~1e-38 instead of a
 * denormal, above 2^127 as ~2e38 instead of infinity; silu cannot tell the difference. NaN stays
 * NaN. */
static inline float exp_clamped(float x)
{
    float t = x * 1.44269504f;
    t = t >= -126.0f ? t : -126.0f;          /* and NaN to -126, restored below */
    t = t <= 127.0f ? t : 127.0f;
    const float n = rintf(t), f = t - n;
    float p = 1.5403530e-4f;                 /* (ln 2)^k / k!, k = 6 .. 1 */
    p = p * f + 1.3333558e-3f;
    p = p * f + 9.6181291e-3f;
    p = p * f + 5.5504109e-2f;
    p = p * f + 2.4022651e-1f;
    p = p * f + 6.9314718e-1f;
    p = p * f + 1.0f;
    const uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;   /* 2^n */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return x == x ? p * scale : x;
}

void swiglu(float *gate, const float *up, int n)
{
    for (int i = 0; i < n; i++) {
        float g = gate[i];
        gate[i] = g / (1.0f + exp_clamped(-g)) * up[i];
    }
}
