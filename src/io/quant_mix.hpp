#pragma once
// Which block type each tensor of a model gets when vktrain quantizes it on load
// (`--quantize`), by llama-quantize's per-tensor rules (llama.cpp's src/llama-quant.cpp,
// llama_tensor_get_type without an importance matrix or overrides), so that a model quantized
// on load holds what llama-quantize's file of the same type would:
//  - 1-D tensors (norms, biases) are not quantized: f32.
//  - output.weight, and token_embd.weight when the embeddings are tied (llama-quantize sees no
//    output.weight then): Q6_K in every mix but Q8_0; Q8_0 where the row is not a whole number
//    of the mix's blocks.
//  - q4_k and q5_k are the _M mixes: attn_v and ffn_down of the layers `use_more_bits` picks
//    (the first and last eighth of the layers and every third one between) get Q6_K. In a
//    70B-type model (llama or mistral with 80 layers and grouped KV heads, qwen2 with 80 layers)
//    the remaining Q4_K attn_v tensors get Q5_K.
//  - q4_k_s is the _S mix: attn_v of the first four layers and ffn_down of the first eighth get
//    Q5_K, every other matrix (the embeddings too, when untied) Q4_K; in a 70B-type model every
//    attn_v is Q5_K.
//  - q4_k_pure is every matrix Q4_K but the output projection, Q6_K: llama-quantize --pure
//    --output-tensor-type q6_k, the mix of the 70B memory target (4.5 bits a weight).
//  - A row that is not a whole number of the chosen type's blocks falls back: Q4_K -> Q5_0,
//    Q5_K -> Q5_1, Q6_K -> Q8_0, and to F16 where even 32-value blocks do not fit.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "io/model_config.hpp"
#include "io/quant.hpp"

namespace vktrain::io {

// The --quantize values: q8_0, q6_k, q5_k (llama-quantize's Q5_K_M), q4_k (Q4_K_M), q4_k_s
// (Q4_K_S), q4_k_pure, q4_0.
enum class QuantizeMix { q8_0, q6_k, q5_k_m, q4_k_m, q4_k_s, q4_k_pure, q4_0 };

// Throws "[quantize] ..." listing the accepted values for any other.
QuantizeMix parse_quantize_mix(std::string_view name);
std::string_view quantize_mix_name(QuantizeMix mix);  // "q4_k", ...
GgmlType quantize_mix_type(QuantizeMix mix);          // the mix's main type: Q4_K for q4_k, ...

struct TensorQuantization {
  GgmlType type = GgmlType::f32;
  std::string reason;  // empty when `type` is the mix's main type; else why, in one phrase
};

// The type of tensor `name` (a Hugging Face name such as "model.layers.3.self_attn.v_proj.weight"
// or its GGUF name "blk.3.attn_v.weight") of shape `shape` (Hugging Face order: [out, in], rows
// of `in` values) in a model described by `config` (its family, layer count, heads and tied
// embeddings). Throws "[quantize] ..." for a layer index outside the model.
TensorQuantization tensor_quantization(QuantizeMix mix, const ModelConfig& config,
                                       std::string_view name, std::span<const int64_t> shape);

}  // namespace vktrain::io
