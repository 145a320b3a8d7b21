// Push layouts of the LoRA linear layer's kernels (dropout.comp, bias_add.comp), shared by C++
// and GLSL (see push.h for the convention), and the dropout mask itself: one hash, written in
// the subset of C++ and GLSL they share, so kernels, ops, references and tests decide every
// element alike and a mask never needs storing.
#ifndef VKTRAIN_KERNELS_LORA_PUSH_H
#define VKTRAIN_KERNELS_LORA_PUSH_H

// dst[i] = (accumulate ? dst[i] : 0) + (keep(i) ? src[i] * scale : 0) for i < count, where
// element i is element first + i of the whole tensor (the mask does not depend on spans) and
// keep(i) compares dropout_hash(dropout_key(seed[0], salt), index) with threshold. `seed` is
// the address of an i32 tensor [1], so a replayed recording takes a new seed each step.
#define DROPOUT_PUSH uint64_t src; uint64_t dst; uint64_t seed; uint64_t first; uint count; \
  uint salt; uint threshold; float scale; uint accumulate;

// y[r * cols + c] += bias[c] for the rows of one span; workgroup y takes rows_per_chunk rows.
#define BIAS_ADD_PUSH uint64_t y; uint64_t bias; uint rows; uint cols; uint rows_per_chunk;

#ifdef __cplusplus
#include <cstdint>
#define VKTRAIN_SHARED inline
namespace vktrain::kernels {
using uint = uint32_t;
#else
#define VKTRAIN_SHARED
#endif

// triple32 from Wellons' hash prospector: a bijection of 32-bit words with full avalanche and,
// unlike two-multiply mixers, evenly spread top bits over runs of consecutive inputs (which the
// threshold compare below relies on).
VKTRAIN_SHARED uint mix_bits(uint x) {
  x ^= x >> 17u;
  x *= 0xed5ad4bbu;
  x ^= x >> 11u;
  x *= 0xac4c1b51u;
  x ^= x >> 15u;
  x *= 0x31848babu;
  x ^= x >> 14u;
  return x;
}

// A counter-based hash of (seed, salt, element index): each word absorbed in turn through
// mix_bits, so a change in any bit of any word changes the result as a random value would (in
// particular, every (seed, salt) pair has its own mask). The key stage is the same for every
// element of a dispatch; kernels compute it once.
VKTRAIN_SHARED uint dropout_key(uint seed, uint salt) { return mix_bits(mix_bits(seed) ^ salt); }
VKTRAIN_SHARED uint dropout_hash(uint key, uint index_low, uint index_high) {
  return mix_bits(mix_bits(key ^ index_high) ^ index_low);
}

// An element is kept when its hash is at least the threshold, round(p * 2^32): P(drop) = p.
VKTRAIN_SHARED bool dropout_keeps(uint key, uint index_low, uint index_high, uint threshold) {
  return dropout_hash(key, index_low, index_high) >= threshold;
}

#ifdef __cplusplus
// The threshold for drop probability p in [0, 1).
inline uint dropout_threshold(float p) {
  double t = double(p) * 4294967296.0 + 0.5;
  return t >= 4294967295.0 ? 4294967295u : uint(t);
}
struct DropoutPush { DROPOUT_PUSH };
struct BiasAddPush { BIAS_ADD_PUSH };
static_assert(sizeof(DropoutPush) <= 128, "push constants are limited to 128 bytes");
}  // namespace vktrain::kernels
#endif
#undef VKTRAIN_SHARED

#endif
