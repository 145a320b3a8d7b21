#pragma once
// A LoRA adapter folded into its base model on the host, for export: per adapted projection
//   W' = W + s B A,   W [out, in], A = lora_A [R, in], B = lora_B [out, R],
// s = alpha / R (alpha / sqrt(R) with rsLoRA), in f32 as PEFT's merge_and_unload computes it
// for f32 weights: B A first, then scaled and added.
// Into a GGUF base, the file keeps its own types (QLoRA's merged export): an adapted matrix is
// decoded to f32, merged, and encoded again in its type (quantize(dequantize(W) + s B A)); an
// expert weight alike (ffn_down_exps, and ffn_gate_exps / ffn_up_exps each with its half of the
// fused gate_up's s B A); every other tensor and all metadata are copied as they are.
#include <span>
#include <string>

#include "io/gguf.hpp"
#include "io/model_config.hpp"
#include "io/peft_adapter.hpp"

namespace vktrain::model {

// Fails, naming `adapter_dir`, unless the adapter holds exactly the weights
// model::lora_parameters lists for the model, each of that shape (an adapter trained for another
// model, or another size of it, is caught here).
void check_adapter_fits(const io::PeftAdapter& adapter, const io::ModelConfig& config,
                        const std::string& adapter_dir);

// Adds s B A to `weight`, the base parameter `name` ("…q_proj.weight") of a `config` model in
// vktrain's layout (model/layout.hpp: an expert weight [E, out, in], gpt-oss's gate_up gate rows
// then up rows), when the adapter adapts it; returns whether it did.
bool merge_adapter(std::span<float> weight, const io::ModelConfig& config, const std::string& name,
                   const io::PeftAdapter& adapter);

// Writes the GGUF file `base` (of model `config`) to `out` with `adapter` merged, each
// tensor in the type it has in the base. Fails, naming the tensor, for an adapted matrix whose
// type vktrain cannot encode (IQ4_NL, IQ4_XS, MXFP4).
void write_merged_gguf(const std::string& out, const io::GgufReader& base,
                       const io::ModelConfig& config, const io::PeftAdapter& adapter);

}  // namespace vktrain::model
