#pragma once
// Tensor names and values as llama.cpp's convert_hf_to_gguf.py changes them, both ways, by the
// family's description (arch/family.hpp):
//   token_embd.weight <-> model.embed_tokens.weight, output_norm.weight <-> model.norm.weight,
//   output.weight <-> lm_head.weight, blk.N.attn_q.weight <-> model.layers.N.self_attn.q_proj.weight
//   and so on (arch/tensor_names.hpp and the family's file).
// Values: for llama (not qwen, not gemma) the converter reorders the rows of the Q and K
// projections from Hugging Face's "rotate half" RoPE layout to ggml's interleaved pairs; gemma3
// stores every RMSNorm weight as 1 + w where Hugging Face stores w (Gemma3RMSNorm multiplies by
// 1 + w).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/model_config.hpp"

namespace vktrain::io {

// From GGUF's general.architecture ("llama", "qwen2", "qwen3", "gemma3", ...) and whether the file
// counts experts; throws for others. Mistral files say "llama" and load as llama, Mixtral's
// ("llama" with experts) as mixtral.
Family family_from_gguf(std::string_view architecture, bool experts = false);
std::string_view gguf_architecture(Family family);

// Throw "[gguf] ..." naming the tensor and family when the name has no counterpart.
std::string gguf_to_hf_name(Family family, std::string_view gguf_name);
std::string hf_to_gguf_name(Family family, std::string_view hf_name);

// Every Hugging Face tensor a checkpoint of the family with `layers` layers may hold (lm_head
// included; tied-embedding checkpoints omit it).
std::vector<std::string> hf_tensor_names(Family family, int layers);

// Whether the converter permutes Q and K rows for this family (llama and mistral).
bool permutes_qk(Family family);
// The heads the converter permutes the rows of weight `hf_name` ("...q_proj.weight") by:
// num_heads for Q, num_kv_heads for K in a family that permutes them; 0 where rows keep order.
int64_t qk_permuted_heads(const ModelConfig& config, std::string_view hf_name);

// The rows of a [heads * head_dim, cols] Q or K projection (K: heads = n_kv_head), each row
// `row_bytes` bytes of any element type. Within each head, HF row s * head_dim/2 + i (s = 0, 1)
// becomes GGUF row 2 i + s; `unpermute` is the inverse. out and in must not overlap.
void permute_qk_rows(std::span<std::byte> out, std::span<const std::byte> in, int64_t heads,
                     size_t row_bytes);
void unpermute_qk_rows(std::span<std::byte> out, std::span<const std::byte> in, int64_t heads,
                       size_t row_bytes);

// gemma3: whether the tensor is an RMSNorm weight stored as 1 + w in GGUF (every HF name ending
// in "norm.weight", the q/k norms included, as the converter does).
bool shifts_norm(Family family, std::string_view hf_name);
void norm_to_gguf(std::span<float> weight);    // w -> 1 + w, in place
void norm_from_gguf(std::span<float> weight);  // 1 + w -> w, in place

}  // namespace vktrain::io
