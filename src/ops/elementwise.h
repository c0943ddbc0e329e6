/* elementwise.h — the small per-token ops of a llama layer: RMSNorm, softmax, SwiGLU (RoPE: rope.h).
 *
 * Shapes are explicit in every signature. Activations are float32, row-major, one row per token. */
#ifndef ATTEND_ELEMENTWISE_H
#define ATTEND_ELEMENTWISE_H

/* out = x / sqrt(mean(x^2) + eps) * weight, over n elements. */
void rmsnorm(float *out, const float *x, const float *weight, int n, float eps);

/* x = softmax(x) over n elements, computed stably (max subtracted first). */
void softmax(float *x, int n);

/* SwiGLU's gate: gate[i] = silu(gate[i]) * up[i], silu(g) = g * sigmoid(g). */
void swiglu(float *gate, const float *up, int n);

#endif
