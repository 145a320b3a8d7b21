#pragma once
// Attention in plain double loops: the whole score row at once, no tiles, no online softmax.
// Layouts as ops/attention.hpp: q, o [B, T, Hq, D], k, v [B, T, Hkv, D], lse [B, Hq, T].
#include <cstdint>
#include <vector>

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

}  // namespace vktrain::reference
