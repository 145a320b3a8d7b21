#pragma once
// Attention in plain double loops: the whole score row at once, no tiles, no online softmax.
// Layouts as ops/attention.hpp: q, o [B, T, Hq, D], k, v [B, T, Hkv, D], lse [B, Hq, T].
#include <cstdint>
#include <vector>

#include "base/dtype.hpp"

namespace vktrain::reference {

struct AttentionShape {
  uint32_t B, T, Hq, Hkv, D;
  bool causal = true;
  int64_t window = 0;                // 0: none; else i - j < window (|i - j| when not causal)
  double scale = 1;
  std::vector<int32_t> documents;    // [B, T], or empty: one document per row
  std::vector<float> sinks;          // [Hq] logits that join each row's softmax, or empty: none
};

// Whether query i of batch row b sees key j.
bool attention_visible(const AttentionShape& s, uint32_t b, uint32_t i, uint32_t j);

void attention_forward(std::vector<double>& o, std::vector<double>& lse,
                       const std::vector<float>& q, const std::vector<float>& k,
                       const std::vector<float>& v, const AttentionShape& s);

// Gradients for the upstream gradient dout (set, not added); dsinks [Hq] those of s.sinks (all
// zero without sinks).
void attention_backward(std::vector<double>& dq, std::vector<double>& dk, std::vector<double>& dv,
                        std::vector<double>& dsinks, const std::vector<float>& dout,
                        const std::vector<float>& q, const std::vector<float>& k,
                        const std::vector<float>& v, const AttentionShape& s);
void attention_backward(std::vector<double>& dq, std::vector<double>& dk, std::vector<double>& dv,
                        const std::vector<float>& dout, const std::vector<float>& q,
                        const std::vector<float>& k, const std::vector<float>& v,
                        const AttentionShape& s);

// The tolerances each variant of ops::attention meets against this reference, in the tests and
// bench/attention's check.
//
// Inputs are exact in their dtype and the reference works in double, so what remains is f32
// accumulation over at most a few hundred terms (seen: 4e-7) and, for 16-bit dtypes, one
// rounding of each stored value (2^-12 and 2^-9 of the largest; seen: 3e-4 and 2e-3).
inline double output_tolerance(DType dt) {
  return dt == DType::f32 ? 1e-5 : dt == DType::f16 ? 1e-3 : 8e-3;
}

// Tolerances of one variant: o (relative to its largest value), lse, and the backward's.
struct Tolerances {
  double o, lse, gradients;
};

// lse stays f32 for every dtype and the inputs are exact in theirs: f32 rounding only. Beyond
// the stored rounding, the 16-bit backward takes delta = dout . o from o as stored in the dtype
// (as every flash-attention backward does) and dS = P (dP - delta) cancels: twice the forward's
// bound (seen: 4e-4 f16, 3.3e-3 bf16).
inline Tolerances portable_tolerances(DType dt) {
  return {output_tolerance(dt), 1e-5, 2 * output_tolerance(dt)};
}

// Beyond the portable 16-bit bounds, the coopmat kernels round P (forward, dV) and dS (dQ, dK)
// to the dtype before their products, as FlashAttention-2 does. f16: 2^-11 of each term, so at
// most 2^-11 of sum |p v| / sum p <= max |v| in o, a few times that relative to o's largest
// value on long rows (o averages v), though the roundings mostly cancel: 2e-3 for o, 3e-3 for
// the gradients (seen on an H200: up to 4.7e-4 and 4.5e-4). bf16 keeps 8 significant bits
// against f16's 11, so each rounding is 8x larger (2^-8): 8x the f16 bounds, which also cover
// the portable bf16 bounds of the stored values (8e-3, 1.6e-2). lse comes from f32 scores and
// sums of products that are exact in f32 for both dtypes, as the portable kernels' (seen: 1.7e-7).
inline Tolerances coopmat_tolerances(DType dt) {
  return dt == DType::f16 ? Tolerances{2e-3, 1e-5, 3e-3} : Tolerances{1.6e-2, 1e-5, 2.4e-2};
}

}  // namespace vktrain::reference
