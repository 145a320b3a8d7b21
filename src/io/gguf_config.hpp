#pragma once
// The ModelConfig of a GGUF file, from the metadata llama.cpp's convert_hf_to_gguf.py writes for
// the llama, qwen2, qwen3 and gemma3 architectures ({arch} is general.architecture):
//   required  {arch}.context_length, .embedding_length, .block_count, .feed_forward_length,
//             .attention.head_count, .attention.layer_norm_rms_epsilon
//   optional  .attention.head_count_kv (default head_count), .attention.key_length (head_dim,
//             default C / H), .rope.freq_base (default 10000, as llama.cpp),
//             .rope.scaling.type / .factor (linear; llama.cpp's older .rope.scale_linear too;
//             "none" or a factor of 1 is no scaling)
// What the metadata does not say directly:
//   - vocab_size: the rows of token_embd.weight (the weights decide what ids can be looked up),
//     else the length of tokenizer.ggml.tokens; more tokens than rows is an error.
//   - tie_word_embeddings: there is no output.weight tensor.
//   - Llama 3 rope scaling: the converter writes no scaling keys but a tensor rope_freqs.weight
//     [D/2] of per-frequency divisors. It is read as Llama 3 scaling with factor = its largest
//     value, low_freq_factor 1, high_freq_factor 4 and original context
//     {arch}.rope.scaling.original_context_length or 8192 (the values of every Llama 3.x), and
//     those parameters must reproduce the tensor: the tensor alone cannot tell a context of 8192
//     with factors 1 and 4 from other triples with the same ratios, so any other tensor is an
//     error rather than a guess.
//   - gemma3: sliding_window from .attention.sliding_window (absent or 0: every layer global);
//     which layers slide from .attention.sliding_window_pattern (a period n: every nth layer
//     global, 0 every layer sliding; or one bool per layer) or else every 6th layer global, as
//     llama.cpp assumes; the local rope base from .rope.freq_base_swa or else 10000, as llama.cpp.
//     query_pre_attn_scalar is not stored, so llama.cpp's rule applies: head_dim, and C / H for
//     the 27B model (62 layers). That matches every published Gemma-3; a config with another
//     value cannot be expressed in GGUF.
//   - qwen3moe: .expert_count, .expert_used_count and .expert_feed_forward_length (required);
//     the top k always renormalised, as llama.cpp's graph does.
//   - bos/eos: tokenizer.ggml.bos_token_id and eos_token_id, plus eot_token_id where it differs
//     (llama.cpp stops generating at either, as transformers stops at any of several eos ids).
// f32 metadata reads back as the shortest decimal that rounds to it, so an rms_norm_eps of 1e-6
// that the converter stored as f32 is 1e-6 again. A missing required key is one error naming the
// file and the key.
#include "io/gguf.hpp"
#include "io/model_config.hpp"

namespace vktrain::io {

ModelConfig model_config_from_gguf(const GgufReader& gguf);

}  // namespace vktrain::io
