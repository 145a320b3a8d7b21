#pragma once
// LoRA on a mixture of experts' weights, as PEFT's ParamWrapper adapts a 3-D parameter
// (LoraConfig.target_parameters, e.g. "mlp.experts.gate_up_proj"): the weight w [E, R, Q]
// acts as w[e] + s B_e A_e for every expert e, A_e [r, Q] and B_e [R, r]. It runs as grouped
// low-rank products over the rows grouped by expert (ops/moe_matmul.hpp), never as a dense delta
// of every expert:
//   u = x_e A_e^T [S, r]          y += s u B_e^T (a band of R: gate or up of gate_up)
// and backward dB_e += s dy_e^T u_e, du = s dy B_e, dA_e += du_e^T x_e, dx += du A_e.
// Layouts: A [E, r, Q], which is PEFT's lora_A [E * r, Q] (expert e's rows [e r, (e + 1) r));
// B [E, R, r]. PEFT's lora_B is [R, r * E] with B_e[o, j] at column j * E + e (its get_delta_weight
// reshapes it to [R, r, E]); moe_lora_b_from_peft / moe_lora_b_to_peft convert. A and B in the
// activations' dtype (compute copies of f32 masters), their gradients f32. PEFT refuses
// lora_dropout on parameter targets (dropout cannot be factored out of x (W + s B A)), so there
// is none here.
#include <span>
#include <vector>

#include "ops/moe_matmul.hpp"
#include "ops/tensor.hpp"
#include "vk/recorder.hpp"

namespace vktrain::ops {

struct MoeExpertLora {
  const Tensor* a = nullptr;  // [E, r, Q]
  const Tensor* b = nullptr;  // [E, R, r]
  float scale = 1.0f;         // s: alpha / r, or alpha / sqrt(r) with rsLoRA
  explicit operator bool() const { return a != nullptr; }
};

// Gradients added into (f32, shaped as A and B); null: not computed.
struct MoeExpertLoraGradients {
  Tensor* a = nullptr;
  Tensor* b = nullptr;
};

// The adapter's rank r, checked against the weight w [E, R, Q] it adapts and the activations'
// dtype; `op` names the caller in errors.
uint64_t moe_lora_rank(const char* op, const MoeExpertLora& lora, const Tensor& weight,
                       DType activations);

// u [S, r] = x_e A_e^T over each expert's rows, x [S, Q].
void moe_lora_hidden(vk::Recorder& rec, Tensor& u, const Tensor& x, const MoeExpertLora& lora,
                     const Tensor& offsets);
// y [S, band rows] += s u B_e[band]^T.
void moe_lora_apply(vk::Recorder& rec, Tensor& y, const Tensor& u, const MoeExpertLora& lora,
                    const Tensor& offsets, MoeWeightBand band = {});
// The band's share of the backward for dy [S, band rows]: dB[band] += s dy_e^T u_e (where
// grads.b), and du [S, r] = s dy B_e[band] (+ du where `accumulate`).
void moe_lora_backward_band(vk::Recorder& rec, Tensor& du, const MoeExpertLoraGradients& grads,
                            const Tensor& dy, const Tensor& u, const MoeExpertLora& lora,
                            const Tensor& offsets, MoeWeightBand band, bool accumulate);
// The rest once du holds every band's share: dA += du_e^T x_e (where grads.a), dx += du A_e.
void moe_lora_backward_input(vk::Recorder& rec, Tensor& dx, const MoeExpertLoraGradients& grads,
                             const Tensor& du, const Tensor& x, const MoeExpertLora& lora,
                             const Tensor& offsets);

// PEFT's lora_B [R, r * E] as B [E, R, r], and back.
std::vector<float> moe_lora_b_from_peft(std::span<const float> peft, uint64_t experts,
                                        uint64_t rows, uint64_t rank);
std::vector<float> moe_lora_b_to_peft(std::span<const float> b, uint64_t experts, uint64_t rows,
                                      uint64_t rank);

}  // namespace vktrain::ops
