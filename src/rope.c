/* rope.c — rotary position embedding: the angles of a position, and the rotation (see rope.h). */
#include "rope.h"

#include <math.h>
#include <stddef.h>

void rope_angles(float *cos_out, float *sin_out, int rope_dim, int pos, float base, float scale)
{
    for (int i = 0; i < rope_dim / 2; i++) {
        /* In double: pos * theta reaches thousands of radians, where float loses the phase. */
        double theta = pow((double)base, -2.0 * i / rope_dim);
        double angle = pos / (double)scale * theta;
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
