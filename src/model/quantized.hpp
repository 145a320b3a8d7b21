#pragma once
// Which frozen base matrices a run keeps on the device in a ggml block type (a quantized base,
// QLoRA), and the lines that tell the user what differs from what they asked:
//  - a GGUF file: every matrix keeps its file's type where a device tensor can hold it (Q8_0,
//    Q4_0, Q4_1, Q5_0, Q5_1, Q2_K ... Q6_K, and MXFP4: gpt-oss's experts); F32/F16/BF16 matrices
//    load in the run's dtype, and
//    any other type (IQ*, TQ*, ...) is dequantized to it on load, named in one line with the
//    memory that costs;
//  - a Hugging Face directory with --quantize: llama-quantize's per-tensor mix
//    (io/quant_mix.hpp), each fallback named;
//  - a gpt-oss directory whose experts are MXFP4 (the hub's): they are dequantized to the run's
//    dtype on load, named in one line with the memory that costs.
// Mixture-of-experts layers: the experts' gate_up and down keep a block type as dense matrices
// do (a GGUF file's ffn_gate_exps and ffn_up_exps fuse into gate_up where both have one type;
// --quantize gives them llama-quantize's ffn_gate_exps / ffn_down_exps rules), read by slabs
// (ops/moe_matmul.hpp); the router stays in the run's dtype, as llama-quantize leaves it.
// Norms and biases stay f32 and LoRA adapters train in f32 either way.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/dtype.hpp"
#include "io/model_config.hpp"
#include "io/model_source.hpp"

namespace vktrain::model {

struct QuantizedBase {
  std::map<std::string, DType> types;  // parameter name -> block type
  std::vector<std::string> notes;      // one line each
};

// `source`: the run's model (null: a preset, no files). `quantize`: the --quantize value (q8_0,
// q6_k, q5_k, q4_k, q4_0), only for a Hugging Face directory or a preset. `dtype`: the run's
// dtype (what the other matrices load as).
QuantizedBase choose_quantized_base(const io::ModelConfig& config, const io::ModelSource* source,
                                    const std::optional<std::string>& quantize, DType dtype);

}  // namespace vktrain::model
