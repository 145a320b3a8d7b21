#pragma once
// The tensor name groups the families share, as llama.cpp's convert_hf_to_gguf.py maps them:
// GGUF after "blk.N.", Hugging Face after "model.layers.N." (kModelTensors: whole names).
// A family lists the groups its checkpoints hold (family.hpp); one of its own (Gemma-3's
// sandwich norms) lives in its file.
#include "arch/family.hpp"

namespace vktrain::arch {

// The Hugging Face names of the tensors the Transformer reads beside its projections (a layer's
// after "model.layers.N."), for the code that looks them up.
namespace hf {
inline constexpr char kEmbedTokens[] = "model.embed_tokens.weight";
inline constexpr char kFinalNorm[] = "model.norm.weight";
inline constexpr char kLmHead[] = "lm_head.weight";
inline constexpr char kInputNorm[] = "input_layernorm.weight";
inline constexpr char kPostAttentionNorm[] = "post_attention_layernorm.weight";
inline constexpr char kPreFeedforwardNorm[] = "pre_feedforward_layernorm.weight";
inline constexpr char kPostFeedforwardNorm[] = "post_feedforward_layernorm.weight";
inline constexpr char kQNorm[] = "self_attn.q_norm.weight";
inline constexpr char kKNorm[] = "self_attn.k_norm.weight";
// A mixture-of-experts block (transformers 5's names and fused layout): the router [E, C], the
// experts' gate and up rows [E, 2F, C] and down [E, C, F].
inline constexpr char kRouter[] = "mlp.gate.weight";
inline constexpr char kExpertsGateUp[] = "mlp.experts.gate_up_proj";
inline constexpr char kExpertsDown[] = "mlp.experts.down_proj";
// GGUF keeps gate_up's halves apart (llama.cpp's ffn_gate_exps, ffn_up_exps [E, F, C]): these
// names stand for them (no checkpoint has them; model/expert_tensors.hpp splits and joins).
inline constexpr char kExpertsGate[] = "mlp.experts.gate_proj";
inline constexpr char kExpertsUp[] = "mlp.experts.up_proj";
// gpt-oss's attention sinks [Hq], and its block under transformers' own names (the device's
// too): the router [E, C] and its bias [E], the experts' biases gate_up [E, 2F] (gate columns
// [0, F), up [F, 2F)) and down [E, C]; GGUF's halves of the gate_up bias as above.
inline constexpr char kSinks[] = "self_attn.sinks";
inline constexpr char kRouterOwn[] = "mlp.router.weight";
inline constexpr char kRouterBias[] = "mlp.router.bias";
inline constexpr char kExpertsGateUpBias[] = "mlp.experts.gate_up_proj_bias";
inline constexpr char kExpertsDownBias[] = "mlp.experts.down_proj_bias";
inline constexpr char kExpertsGateBias[] = "mlp.experts.gate_proj_bias";
inline constexpr char kExpertsUpBias[] = "mlp.experts.up_proj_bias";
}  // namespace hf
static_assert(MoeNames{}.device_router == hf::kRouter);

inline constexpr TensorNamePair kModelTensors[] = {
    {"token_embd.weight", hf::kEmbedTokens},
    {"output_norm.weight", hf::kFinalNorm},
    {"output.weight", hf::kLmHead},
};

inline constexpr TensorNamePair kAttentionAndMlp[] = {
    {"attn_q.weight", "self_attn.q_proj.weight"},
    {"attn_k.weight", "self_attn.k_proj.weight"},
    {"attn_v.weight", "self_attn.v_proj.weight"},
    {"attn_output.weight", "self_attn.o_proj.weight"},
    {"ffn_gate.weight", "mlp.gate_proj.weight"},
    {"ffn_up.weight", "mlp.up_proj.weight"},
    {"ffn_down.weight", "mlp.down_proj.weight"},
    {"attn_norm.weight", hf::kInputNorm},
};
// Llama's layout: the norm after attention is the one before the feed-forward block.
inline constexpr TensorNamePair kPostAttentionIsFfnNorm[] = {
    {"ffn_norm.weight", hf::kPostAttentionNorm},
};
inline constexpr TensorNamePair kQkvBias[] = {
    {"attn_q.bias", "self_attn.q_proj.bias"},
    {"attn_k.bias", "self_attn.k_proj.bias"},
    {"attn_v.bias", "self_attn.v_proj.bias"},
};
// A mixture-of-experts block: the router and the experts stacked per projection (3-D).
inline constexpr TensorNamePair kMoeExperts[] = {
    {"ffn_gate_inp.weight", hf::kRouter},
    {"ffn_gate_exps.weight", hf::kExpertsGate},
    {"ffn_up_exps.weight", hf::kExpertsUp},
    {"ffn_down_exps.weight", hf::kExpertsDown},
};
inline constexpr TensorNamePair kQkNorm[] = {
    {"attn_q_norm.weight", hf::kQNorm},
    {"attn_k_norm.weight", hf::kKNorm},
};

}  // namespace vktrain::arch
