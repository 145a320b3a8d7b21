#include "model/quantized.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "arch/family.hpp"
#include "base/error.hpp"
#include "io/ggml_dtype.hpp"
#include "io/gguf_tensors.hpp"
#include "io/quant_mix.hpp"
#include "model/expert_tensors.hpp"
#include "model/layout.hpp"

namespace vktrain::model {

namespace {

std::string gib(uint64_t bytes) { return fmt::format("{:.2f} GiB", double(bytes) / (1ull << 30)); }

// The router [E, C] stays in the run's dtype: llama-quantize never quantizes ffn_gate_inp (its
// logits choose the experts), and ops::moe_forward multiplies it in x's dtype. The experts'
// matrices (gate_up, down) keep a block type like any dense matrix (ops/moe_matmul.hpp).
bool is_router(const std::string& name) {
  return is_moe_block_parameter(name) && !is_expert_matrix(name);
}

// The file's or llama-quantize's names of a parameter's tensors: a fused gate_up is GGUF's two
// halves (ffn_gate_exps, ffn_up_exps), with their shape [E, F, C].
struct FileTensors {
  std::vector<std::string> names;
  std::vector<int64_t> shape;
};
FileTensors file_tensors(const ParameterSpec& spec) {
  if (const auto halves = gate_up_halves(spec)) return {{halves->gate, halves->up}, halves->shape};
  return {{spec.name}, spec.shape};
}

QuantizedBase from_gguf(const io::ModelConfig& config, const io::GgufReader& gguf, DType dtype) {
  const io::GgufModelTensors tensors(gguf, config);
  QuantizedBase base;
  std::map<io::GgmlType, uint64_t> widened;  // types decoded on load -> their tensors' elements
  uint64_t widened_tensors = 0, added_bytes = 0;
  for (const auto& spec : base_parameters(config)) {
    if (!spec.matrix()) continue;
    std::vector<io::GgmlType> found;
    for (const std::string& name : file_tensors(spec).names)
      if (const io::GgufTensorInfo* info = tensors.find(name)) found.push_back(info->type);
    if (found.size() != file_tensors(spec).names.size()) continue;  // the loader names it
    const io::GgmlType type = found.front();
    const bool one_type = std::all_of(found.begin(), found.end(),
                                      [&](io::GgmlType t) { return t == type; });
    if (one_type &&
        (type == io::GgmlType::f32 || type == io::GgmlType::f16 || type == io::GgmlType::bf16))
      continue;
    // gate and up of other types (no llama-quantize mix makes them) load as floats.
    if (auto device = io::device_dtype(type); device && one_type && !is_router(spec.name)) {
      base.types[spec.name] = *device;
      continue;
    }
    widened[type] += spec.elements();
    ++widened_tensors;
    uint64_t encoded = io::ggml_row_bytes(type, uint64_t(spec.shape.back())) *
                       (spec.elements() / uint64_t(spec.shape.back()));
    added_bytes += spec.elements() * dtype_size(dtype) - encoded;
  }
  if (widened_tensors) {
    std::string types;
    for (const auto& [type, elements] : widened)
      types += fmt::format("{}{}", types.empty() ? "" : ", ", io::ggml_type_name(type));
    base.notes.push_back(fmt::format(
        "{}: {} tensors are {}, which the device cannot hold as they are; they are dequantized "
        "to {} on load, {} more device memory",
        gguf.path(), widened_tensors, types, dtype_name(dtype), gib(added_bytes)));
  }
  return base;
}

// The hub's gpt-oss checkpoints hold the experts in MXFP4, which the loader decodes to the run's
// dtype (model/loader.cpp): one line naming them and what that costs. A directory planned from
// its config.json alone has no weights to look at.
void note_mxfp4_experts(const io::ModelConfig& config, const io::ModelSource& source, DType dtype,
                        QuantizedBase& base) {
  if (!config.any_moe_layer() || !arch::describe(config.family).experts.interleaved_gate_up ||
      !io::Checkpoint::present(source.path()))
    return;
  const io::Checkpoint& checkpoint = source.checkpoint();
  const auto block = io::ggml_block(io::GgmlType::mxfp4);  // the hub's 16 + 1 bytes for 32 values
  uint64_t tensors = 0, added_bytes = 0;
  std::string example;
  for (const auto& spec : base_parameters(config))
    for (const ExpertPiece& piece : expert_pieces(config, spec)) {
      if (!checkpoint.contains(piece.name + "_blocks")) continue;
      if (tensors++ == 0) example = piece.name + "_blocks";
      added_bytes +=
          spec.elements() * dtype_size(dtype) - spec.elements() / block.elements * block.bytes;
    }
  if (tensors)
    base.notes.push_back(fmt::format(
        "{}: {} expert tensors are MXFP4 (e.g. {}), which the device cannot hold as they are; "
        "they are dequantized to {} on load, {} more device memory",
        source.path(), tensors, example, dtype_name(dtype), gib(added_bytes)));
}

QuantizedBase from_mix(const io::ModelConfig& config, const std::string& mix_name) {
  const io::QuantizeMix mix = io::parse_quantize_mix(mix_name);
  QuantizedBase base;
  struct Differing {
    uint64_t count = 0;
    std::string example;  // the first tensor and why
  };
  std::map<io::GgmlType, Differing> differing;  // types other than the mix's main one
  for (const auto& spec : base_parameters(config)) {
    if (!spec.matrix() || is_router(spec.name)) continue;
    // llama-quantize's rules give ffn_gate_exps and ffn_up_exps one type in every mix here (they
    // differ in IQ3_XS only): gate_up takes its gate half's. ffn_down_exps takes ffn_down's.
    const FileTensors file = file_tensors(spec);
    io::TensorQuantization q =
        io::tensor_quantization(mix, config, file.names.front(), file.shape);
    if (auto device = io::device_dtype(q.type); device && dtype_is_block(*device))
      base.types[spec.name] = *device;
    if (q.reason.empty()) continue;
    Differing& d = differing[q.type];
    if (d.count++ == 0) d.example = fmt::format("{}: {}", spec.name, q.reason);
  }
  for (const auto& [type, d] : differing)
    base.notes.push_back(fmt::format("--quantize {}: {} tensor{} {}, e.g. {}", mix_name, d.count,
                                     d.count == 1 ? " is" : "s are", io::ggml_type_name(type),
                                     d.example));
  return base;
}

}  // namespace

QuantizedBase choose_quantized_base(const io::ModelConfig& config, const io::ModelSource* source,
                                    const std::optional<std::string>& quantize, DType dtype) {
  const bool gguf = source && source->is_gguf();
  if (quantize && gguf)
    fail("[quantize] {} is a GGUF file, whose tensors keep the types it stores; --quantize "
         "quantizes a Hugging Face model directory on load (drop --quantize, or pass the "
         "directory)", source->path());
  if (gguf) return from_gguf(config, source->gguf(), dtype);
  QuantizedBase base = quantize ? from_mix(config, *quantize) : QuantizedBase{};
  if (source) note_mxfp4_experts(config, *source, dtype, base);
  return base;
}

}  // namespace vktrain::model
