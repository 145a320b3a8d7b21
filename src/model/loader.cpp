#include "model/loader.hpp"

#include "base/error.hpp"
#include "io/checkpoint.hpp"
#include "io/ggml_dtype.hpp"
#include "io/gguf_tensors.hpp"
#include "io/quant.hpp"

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

void read_huggingface(const io::ModelConfig& config, const io::ModelSource& source,
                      const WantWeight& want, const UseWeight& use) {
  const io::Checkpoint& checkpoint = source.checkpoint();
  const std::string& dir = source.path();
  for (const auto& spec : base_parameters(config)) {
    if (!want(spec.name)) continue;
    std::string name = checkpoint_name(checkpoint, config, spec.name);
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
