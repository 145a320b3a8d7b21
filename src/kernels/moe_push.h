// Push layouts of the mixture-of-experts kernels (moe_*.comp), shared by C++ and GLSL (see push.h
// for the convention). Letters: T tokens, E experts, k experts per token, S = T * k slots (slot
// s = t * k + j is token t's j-th choice), C columns of a row.
#ifndef VKTRAIN_KERNELS_MOE_PUSH_H
#define VKTRAIN_KERNELS_MOE_PUSH_H

// moe_router.comp. Forward: logits [T, E] f32 -> ids [T, k] i32, weights [T, k] f32 and, where
// probs != 0, softmax(logits) [T, E] f32. Backward: dweights [T, k] -> dlogits [T, E] f32, added
// where accumulate != 0. mode 0: softmax over E, top-k, renormalised where normalize != 0
// (Qwen3-MoE, Mixtral); mode 1: top-k of the logits, softmax over the k (gpt-oss).
#define MOE_ROUTER_PUSH uint64_t logits; uint64_t ids; uint64_t weights; uint64_t probs; \
  uint64_t dweights; uint64_t dlogits; uint tokens; uint experts; uint k; uint mode; \
  uint normalize; uint accumulate;

// moe_group.comp, three stages over blocks of 256 slots. ids [S] i32 -> offsets [E + 1] i32 (an
// expert's rows are [offsets[e], offsets[e + 1]); offsets[E] counts the slots with a valid id),
// rows [S] i32 (the slot at each grouped position), positions [S] i32 (the inverse). An id outside
// [0, E) goes to bucket E, after every expert's rows. counts: [blocks, E + 1] u32 scratch.
#define MOE_GROUP_PUSH uint64_t ids; uint64_t counts; uint64_t offsets; uint64_t rows; \
  uint64_t positions; uint slots; uint experts; uint blocks;

// moe_gather.comp: dst[p, c] = src[rows[p] / k, c] (* weights[rows[p]] where weights != 0), for
// p < slots, c < cols.
#define MOE_GATHER_PUSH uint64_t src; uint64_t dst; uint64_t rows; uint64_t weights; uint slots; \
  uint k; uint cols;

// moe_combine.comp: dst[t, c] (+)= sum over j < k of (weights[t * k + j] or 1) *
// src[positions[t * k + j], c], skipping slots at or after offsets[experts] (invalid ids).
// WEIGHT_GRADIENT: dweights[s] (+)= dot(dst[s / k, :], src[positions[s], :]) (dst is then dy).
#define MOE_COMBINE_PUSH uint64_t src; uint64_t dst; uint64_t positions; uint64_t weights; \
  uint64_t offsets; uint64_t dweights; uint tokens; uint k; uint cols; uint experts; \
  uint accumulate;

// moe_matmul.comp: per expert e, C = alpha * A op(B) + beta * C over the rows offsets[e] ..
// offsets[e + 1]. See the kernel for how the modes address A, B and C (elements). The default
// mode runs over experts [first_expert, first_expert + experts) only, with B holding just theirs
// (pc.b is first_expert's matrix): a slab of a block-quantized weight decoded for them
// (ops/moe_matmul.hpp); the weight gradient takes first_expert 0.
#define MOE_MATMUL_PUSH uint64_t a; uint64_t b; uint64_t c; uint64_t offsets; \
  uint64_t b_expert_stride; uint64_t c_expert_stride; uint M; uint N; uint K; uint lda; \
  uint ldb; uint ldc; uint trans_b; uint first_expert; uint experts; float alpha; float beta;

// moe_aux.comp, the load-balancing loss (transformers' load_balancing_loss_func). stats [2, E + 1]
// f32, summed over the tokens of every layer: stats[0, e] the selections of expert e, stats[1, e]
// the sum of its router probability, stats[0, E] the tokens counted (N). Tokens whose mask is 0
// (mask != 0: an i32 [T] attention mask) count nowhere. Stage 0: one layer's statistics, from
// probs [T, E] and ids [T, k], written or added (accumulate). Stage 1: loss[0] (+)= coefficient *
// E / N^2 * sum_e stats[0, e] stats[1, e], divided by divisor[0] where divisor != 0 (nothing added
// where divisor[0] is 0). Stage 2: dlogits [T, E] (+)= its gradient through
// softmax(logits).
#define MOE_AUX_PUSH uint64_t stats; uint64_t loss; uint64_t logits; uint64_t dlogits; \
  uint64_t probs; uint64_t ids; uint64_t mask; uint64_t divisor; uint tokens; uint experts; \
  uint k; float coefficient; uint accumulate;

// moe_bias.comp. Forward: y[p, n] += bias[e * bias_ld + n] for the rows p of each expert e
// (y [S, N]). Backward: dbias[e * bias_ld + n] (+)= sum over e's rows of dy[p, n] (accumulate).
#define MOE_BIAS_PUSH uint64_t y; uint64_t bias; uint64_t offsets; uint rows; uint cols; \
  uint bias_ld; uint experts; uint accumulate;

// moe_swiglu.comp, gpt-oss's clamped SwiGLU: h = (clamp(up, -limit, limit) + 1) * g *
// sigmoid(alpha * g) with g = min(gate, limit); backward dgate, dup (+)= its gradients.
#define MOE_SWIGLU_PUSH uint64_t gate; uint64_t up; uint64_t h; uint64_t dgate; uint64_t dup; \
  uint count; float alpha; float limit; uint accumulate;

#ifdef __cplusplus
#include <cstdint>
namespace vktrain::kernels {
using uint = uint32_t;
struct MoeRouterPush { MOE_ROUTER_PUSH };
struct MoeGroupPush { MOE_GROUP_PUSH };
struct MoeGatherPush { MOE_GATHER_PUSH };
struct MoeCombinePush { MOE_COMBINE_PUSH };
struct MoeMatmulPush { MOE_MATMUL_PUSH };
struct MoeAuxPush { MOE_AUX_PUSH };
struct MoeBiasPush { MOE_BIAS_PUSH };
struct MoeSwigluPush { MOE_SWIGLU_PUSH };
static_assert(sizeof(MoeRouterPush) <= 128, "push constants are limited to 128 bytes");
static_assert(sizeof(MoeCombinePush) <= 128, "push constants are limited to 128 bytes");
static_assert(sizeof(MoeMatmulPush) <= 128, "push constants are limited to 128 bytes");
}  // namespace vktrain::kernels
#endif

#endif
