/* elementwise.c — RMSNorm, RoPE, softmax and SwiGLU: per-token loops, memory-light. */
#include "ops/elementwise.h"

#include <math.h>
#include <stddef.h>

void rmsnorm(float *out, const float *x, const float *weight, int n, float eps)
{
    /* Sum in double: a long residual stream of large values should not lose the small ones. */
    double ss = 0.0;
    for (int i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    float inv_rms = (float)(1.0 / sqrt(ss / n + eps));
    for (int i = 0; i < n; i++)
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

void swiglu(float *gate, const float *up, int n)
{
    for (int i = 0; i < n; i++) {
        float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}
