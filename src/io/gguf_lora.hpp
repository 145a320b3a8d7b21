#pragma once
// A LoRA adapter as a GGUF file the way llama.cpp's convert_lora_to_gguf.py writes one and
// llama-adapter.cpp (llama_adapter_lora_init) loads it:
//   metadata  general.architecture (the base model's; llama.cpp refuses a mismatch),
//             general.type = "adapter", adapter.type = "lora", adapter.lora.alpha (f32),
//             general.file_type, general.quantization_version
//   tensors   per adapted projection, the base tensor's GGUF name + ".lora_a" / ".lora_b", e.g.
//             blk.0.attn_q.weight.lora_a with ggml dims {in, R} (PEFT's lora_A [R, in]) and
//             blk.0.attn_q.weight.lora_b with dims {R, out} (lora_B [out, R]); llama.cpp checks
//             a.ne[0] == W.ne[0], b.ne[1] == W.ne[1] and a.ne[1] == b.ne[0]; per adapted expert
//             weight (PEFT's target_parameters) blk.0.ffn_{gate,up,down}_exps.weight.lora_a
//             {in, R, E} and .lora_b {R, out, E}, one block per expert, which llama.cpp's
//             build_lora_mm_id multiplies by the routed experts.
// For llama and mistral the converter permutes the rows of Q and K (gguf_names.hpp); applied to
// B A that permutes the rows of lora_B and leaves lora_A alone, as here.
// llama.cpp scales the product by alpha / R, R being lora_b's ne[0] (llama_adapter_lora_weight::
// get_scale), and knows nothing of rsLoRA; the converter copies lora_alpha as it is, which for an
// rsLoRA adapter (scale alpha / sqrt(R)) gives the wrong scale. We write alpha * sqrt(R)
// instead, so that alpha' / R = alpha / sqrt(R). (An alpha of 0 would make llama.cpp use a scale
// of 1, so it is refused.)
#include <string>

#include "io/model_config.hpp"
#include "io/peft_adapter.hpp"
#include "io/quant.hpp"

namespace vktrain::io {

// The alpha to store so that llama.cpp's alpha / R is the adapter's scale.
double gguf_lora_alpha(const LoraConfig& lora);

// Writes `adapter` for a base model of `config` to `path` (through a temporary file); type is
// F32 or F16. Every lora_A needs its lora_B with a matching rank.
void write_gguf_lora(const std::string& path, const ModelConfig& config, const PeftAdapter& adapter,
                     GgmlType type = GgmlType::f32);

}  // namespace vktrain::io
