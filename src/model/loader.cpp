#include "model/loader.hpp"

#include <algorithm>
#include <set>

#include "arch/family.hpp"
#include "base/error.hpp"
#include "io/checkpoint.hpp"
#include "io/ggml_dtype.hpp"
#include "io/gguf_tensors.hpp"
#include "io/quant.hpp"
#include "io/quant_hub_mxfp4.hpp"
#include "model/expert_tensors.hpp"

namespace vktrain::model {

namespace {

std::vector<float> floats_of(const std::string& source, const std::string& name,
                             const std::string& dtype, std::span<const std::byte> bytes) {
  io::GgmlType type;
  if (dtype == "F32") type = io::GgmlType::f32;
  else if (dtype == "F16") type = io::GgmlType::f16;
  else if (dtype == "BF16") type = io::GgmlType::bf16;
  else
    fail("[model] {}: tensor {} is {}; only F32, F16 and BF16 weights load", source, name, dtype);
  return io::dequantize(bytes, type, bytes.size() / io::ggml_block(type).bytes);
}

void require_shape(const std::string& source, const std::string& name,
                   const std::vector<int64_t>& got, const std::vector<int64_t>& want) {
  if (got != want)
    fail("[model] {}: tensor {} has shape [{}], the config implies [{}]", source, name,
         fmt::join(got, ", "), fmt::join(want, ", "));
}

// The checkpoint's name for one of ours: the text model may sit under another prefix
// (Gemma-3's multimodal checkpoints).
std::string checkpoint_name(const io::Checkpoint& checkpoint, const io::ModelConfig& config,
                            const std::string& name) {
  if (checkpoint.contains(name)) return name;
  const std::string ours = "model.";
  for (const auto& prefix : config.weight_prefixes) {
    std::string candidate = name.starts_with(ours) ? prefix + name.substr(ours.size())
                                                   : prefix.substr(0, prefix.size() - ours.size()) + name;
    if (checkpoint.contains(candidate)) return candidate;
  }
  return "";
}

// Whether `piece` is a weight that the hub's gpt-oss checkpoints hold in MXFP4 (not a bias).
bool mxfp4_piece(const ExpertPiece& piece) {
  return piece.order == HubOrder::transposed || piece.order == HubOrder::transposed_interleaved;
}

// gpt-oss's experts as the hub's checkpoints hold them: MXFP4 (io/quant_hub_mxfp4.hpp) of the
// piece's values transposed per expert, `piece` [E, K, R] as blocks [E, R, K/32, 16] and scales
// [E, R, K/32], so that the rows are the device's (gate_up's alternating gate and up). Each row
// is decoded into its place in `out` (the device's order), with no copy of the whole weight:
// gpt-oss-120b's gate_up is 8.5 GB of floats a layer. False when the checkpoint holds neither
// tensor. `dense`: the checkpoint's name for the piece itself, if it holds that too.
bool read_mxfp4_experts(const io::Checkpoint& checkpoint, const io::ModelConfig& config,
                        const std::string& dir, const ExpertPiece& piece, const std::string& dense,
                        std::span<float> out) {
  if (!mxfp4_piece(piece)) return false;
  const std::string blocks = checkpoint_name(checkpoint, config, piece.name + "_blocks");
  const std::string scales = checkpoint_name(checkpoint, config, piece.name + "_scales");
  if (blocks.empty() && scales.empty()) return false;
  if (blocks.empty() || scales.empty())
    fail("[model] {}: tensor {} has no partner {}: MXFP4 weights come as blocks and scales", dir,
         blocks.empty() ? scales : blocks,
         blocks.empty() ? piece.name + "_blocks" : piece.name + "_scales");
  if (!dense.empty())
    fail("[model] {}: the checkpoint holds {} both as it is and as MXFP4 ({}, {}); keep one", dir,
         dense, blocks, scales);
  const int64_t E = piece.shape[0], K = piece.shape[1], R = piece.shape[2];
  if (K % 32 != 0)
    fail("[model] {}: tensor {} is MXFP4, whose groups of 32 values cannot hold rows of {} (the "
         "config's)", dir, blocks, K);
  for (const std::string& name : {blocks, scales})
    if (checkpoint.entry(name).dtype != "U8")
      fail("[model] {}: tensor {} is {}; MXFP4 blocks and scales are U8", dir, name,
           checkpoint.entry(name).dtype);
  require_shape(dir, blocks, checkpoint.entry(blocks).shape, {E, R, K / 32, 16});
  require_shape(dir, scales, checkpoint.entry(scales).shape, {E, R, K / 32});
  const auto block_bytes = checkpoint.data(blocks), scale_bytes = checkpoint.data(scales);
  io::check_hub_mxfp4_scales(scale_bytes, fmt::format("{}: tensor {}", dir, scales));
  const bool interleaved = piece.order == HubOrder::transposed_interleaved;
  const size_t groups = size_t(K / 32);
  for (int64_t row = 0; row < E * R; ++row) {
    const int64_t e = row / R, r = row % R;  // gate_up's row r is gate (even) or up (odd) r / 2
    const int64_t to = e * R + (interleaved ? (r % 2) * (R / 2) + r / 2 : r);
    io::decode_hub_mxfp4(out.subspan(size_t(to * K), size_t(K)),
                         block_bytes.subspan(size_t(row) * groups * 16, groups * 16),
                         scale_bytes.subspan(size_t(row) * groups, groups));
  }
  return true;
}

// A fused expert parameter from the hub's per-expert tensors (expert_tensors.hpp), or gpt-oss's
// whole tensor in its order or as MXFP4: each must be there with its exact shape.
std::vector<float> read_experts(const io::Checkpoint& checkpoint, const io::ModelConfig& config,
                                const std::string& dir, const ParameterSpec& spec,
                                const std::vector<ExpertPiece>& pieces) {
  std::vector<float> values(spec.elements());
  for (const ExpertPiece& piece : pieces) {
    const std::string name = checkpoint_name(checkpoint, config, piece.name);
    if (read_mxfp4_experts(checkpoint, config, dir, piece, name,
                           std::span(values).subspan(piece.offset)))
      continue;
    if (name.empty())
      fail("[model] {}: the checkpoint has neither {} nor {} (the config says {} experts)", dir,
           spec.name, piece.name, spec.shape[0]);
    const auto& entry = checkpoint.entry(name);
    require_shape(dir, name, entry.shape, piece.shape);
    const std::vector<float> part =
        hub_to_device(piece, floats_of(dir, name, entry.dtype, checkpoint.data(name)));
    std::copy(part.begin(), part.end(), values.begin() + int64_t(piece.offset));
  }
  return values;
}

// Every expert tensor of the checkpoint must be one the config has: an expert past the count, or
// one written twice under two prefixes, means the config and the weights disagree.
void check_no_stray_experts(const io::Checkpoint& checkpoint, const io::ModelConfig& config,
                            const std::string& dir, const std::vector<ParameterSpec>& specs) {
  std::set<std::string> known;
  for (const auto& spec : specs) {
    known.insert(checkpoint_name(checkpoint, config, spec.name));
    for (const auto& piece : expert_pieces(config, spec)) {
      known.insert(checkpoint_name(checkpoint, config, piece.name));
      if (mxfp4_piece(piece))
        for (const char* suffix : {"_blocks", "_scales"})
          known.insert(checkpoint_name(checkpoint, config, piece.name + suffix));
    }
  }
  const std::string hub_experts =
      "." + std::string(arch::describe(config.family).experts.experts_prefix);
  for (const std::string& name : checkpoint.names())
    if ((name.find(".mlp.experts.") != std::string::npos ||
         name.find(hub_experts) != std::string::npos) && !known.count(name))
      fail("[model] {}: tensor {} is no expert weight of this config ({} experts of {} per "
           "layer): the config and the weights disagree",
           dir, name, config.moe.experts, config.moe.intermediate_size);
}

void read_huggingface(const io::ModelConfig& config, const io::ModelSource& source,
                      const WantWeight& want, const UseWeight& use) {
  const io::Checkpoint& checkpoint = source.checkpoint();
  const std::string& dir = source.path();
  const std::vector<ParameterSpec> specs = base_parameters(config);
  if (config.any_moe_layer()) check_no_stray_experts(checkpoint, config, dir, specs);
  for (const auto& spec : specs) {
    if (!want(spec.name)) continue;
    std::string name = checkpoint_name(checkpoint, config, spec.name);
    // Pieces under other names (the hub's per-expert tensors), or one whole tensor in another
    // order under the same name (gpt-oss's).
    const auto pieces = expert_pieces(config, spec);
    if (!pieces.empty() && (name.empty() || pieces.front().order != HubOrder::same)) {
      use(spec, read_experts(checkpoint, config, dir, spec, pieces));
      continue;
    }
    if (name.empty())
      fail("[model] {}: the checkpoint has no tensor {} (is it a {} model?)", dir, spec.name,
           io::family_name(config.family));
    const auto& entry = checkpoint.entry(name);
    require_shape(dir, name, entry.shape, spec.shape);
    use(spec, floats_of(dir, name, entry.dtype, checkpoint.data(name)));
  }
}

// `keep`, where given, takes the tensors it accepts as the file encodes them (rows in Hugging
// Face's order), instead of `use` their values.
using KeepEncoded =
    std::function<bool(const ParameterSpec& spec, io::GgmlType type, std::span<const std::byte>)>;

void read_gguf(const io::ModelConfig& config, const io::ModelSource& source,
               const WantWeight& want, const UseWeight& use, const KeepEncoded& keep = {}) {
  const io::GgufModelTensors tensors(source.gguf(), config);
  for (const auto& spec : base_parameters(config)) {
    if (!want(spec.name)) continue;
    if (const auto halves = gate_up_halves(spec)) {  // two tensors in GGUF
      const io::GgufEncodedTensor gate = tensors.encoded(halves->gate, halves->shape);
      const io::GgufEncodedTensor up = tensors.encoded(halves->up, halves->shape);
      // Block-typed halves of one type fuse as they are: each expert's gate rows, then its up
      // rows, whole blocks either way.
      if (keep && spec.matrix() && gate.type == up.type && io::ggml_block(gate.type).elements > 1 &&
          keep(spec, gate.type, join_gate_up(gate.bytes(), up.bytes(), spec.shape[0])))
        continue;
      use(spec, join_gate_up(tensors.values(halves->gate, gate), tensors.values(halves->up, up),
                             spec.shape[0]));
      continue;
    }
    const io::GgufEncodedTensor tensor = tensors.encoded(spec.name, spec.shape);
    if (keep && spec.matrix() && keep(spec, tensor.type, tensor.bytes())) continue;
    use(spec, tensors.values(spec.name, tensor));
  }
}

}  // namespace

void read_base_weights(const io::ModelConfig& config, const io::ModelSource& source,
                       const WantWeight& want, const UseWeight& use) {
  if (source.is_gguf()) read_gguf(config, source, want, use);
  else read_huggingface(config, source, want, use);
}

void load_base_weights(Parameters& params, const io::ModelConfig& config,
                       const io::ModelSource& source) {
  auto want = [&](const std::string& name) { return params.find(name) != nullptr; };
  auto use = [&](const ParameterSpec& spec, std::vector<float> values) {
    params.write(spec.name, values);
  };
  if (!source.is_gguf()) return read_huggingface(config, source, want, use);
  // A block-typed weight takes the file's blocks as they are (no requantization).
  read_gguf(config, source, want, use,
            [&](const ParameterSpec& spec, io::GgmlType type, std::span<const std::byte> bytes) {
              const Tensor& weight = params.at(spec.name).weight;
              if (!dtype_is_block(weight.dtype) || io::ggml_type_of(weight.dtype) != type)
                return false;
              params.write_encoded(spec.name, bytes, type);
              return true;
            });
}

}  // namespace vktrain::model
