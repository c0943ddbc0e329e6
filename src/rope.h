/* rope.h — rotary position embedding (RoPE, Su et al. 2021).
 *
 * Queries and keys are rotated by their position before they meet: within the first rope_dim
 * dimensions of a head, the pair (v[2i], v[2i+1]) turns by the angle pos * theta_i, where
 * theta_i = base^(-2i/rope_dim). A rotation by angle a of one vector and b of another changes
 * their dot product only through a - b, so query · key depends on the distance between the two
 * positions, not on where they are. The forward pass rotates each new query and key; the KV cache
 * rotates keys it already holds when their positions change (a context shift, attention sinks). */
#ifndef ATTEND_ROPE_H
#define ATTEND_ROPE_H

/* cos[i] and sin[i] of the angle of pair i (i < rope_dim / 2) at position pos. Linear RoPE
 * scaling (scale > 1) divides the position: pos / scale * theta_i, so a model fine-tuned to
 * stretch its trained context sees positions at the spacing it learned; scale 1 leaves pos as is.
 * pos may be negative: a rotation back. */
void rope_angles(float *cos, float *sin, int rope_dim, int pos, float base, float scale);

/* Rotate every head of one token's vector v (n_heads heads of head_dim floats, one after the
 * other), in place, by the angles of rope_angles. */
void rope(float *v, int n_heads, int head_dim, int rope_dim, const float *cos, const float *sin);

#endif
