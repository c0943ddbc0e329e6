/* elementwise.h — the small per-token ops of a llama layer: RMSNorm, RoPE, softmax, SwiGLU.
 *
 * Shapes are explicit in every signature. Activations are float32, row-major, one row per token. */
#ifndef ATTEND_ELEMENTWISE_H
#define ATTEND_ELEMENTWISE_H

/* out = x / sqrt(mean(x^2) + eps) * weight, over n elements. */
void rmsnorm(float *out, const float *x, const float *weight, int n, float eps);

/* Rotary position embedding, in place, for every head of one token: within the first rope_dim
 * dimensions of a head, the pair (v[2i], v[2i+1]) is rotated by angle pos * theta_i where
 * theta_i = base^(-2i/rope_dim). `cos`/`sin` hold cos(pos*theta_i), sin(pos*theta_i) for i < rope_dim/2
 * (computed once per position, shared by all heads and by queries and keys). */
void rope(float *v, int n_heads, int head_dim, int rope_dim, const float *cos, const float *sin);
void rope_angles(float *cos, float *sin, int rope_dim, int pos, float base);

/* x = softmax(x) over n elements, computed stably (max subtracted first). */
void softmax(float *x, int n);

/* SwiGLU's gate: gate[i] = silu(gate[i]) * up[i], silu(g) = g * sigmoid(g). */
void swiglu(float *gate, const float *up, int n);

#endif
