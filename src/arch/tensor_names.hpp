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
}  // namespace hf

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
inline constexpr TensorNamePair kQkNorm[] = {
    {"attn_q_norm.weight", hf::kQNorm},
    {"attn_k_norm.weight", hf::kKNorm},
};

}  // namespace vktrain::arch
