#include "model/quantized.hpp"

#include <fmt/format.h>

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

QuantizedBase from_gguf(const io::ModelConfig& config, const io::GgufReader& gguf, DType dtype) {
  const io::GgufModelTensors tensors(gguf, config);
  QuantizedBase base;
  std::map<io::GgmlType, uint64_t> widened;  // types decoded on load -> their tensors' elements
  uint64_t widened_tensors = 0, added_bytes = 0;
  for (const auto& spec : base_parameters(config)) {
    const io::GgufTensorInfo* found = tensors.find(spec.name);
    if (!spec.matrix() || !found) continue;  // the loader names what is missing
    const io::GgmlType type = found->type;
    if (type == io::GgmlType::f32 || type == io::GgmlType::f16 || type == io::GgmlType::bf16)
      continue;
    if (auto device = io::device_dtype(type); device && !is_moe_block_parameter(spec.name)) {
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
    if (!spec.matrix() || is_moe_block_parameter(spec.name)) continue;  // the experts stay floats
    io::TensorQuantization q = io::tensor_quantization(mix, config, spec.name, spec.shape);
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
