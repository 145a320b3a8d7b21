#include "model/loader.hpp"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "base/error.hpp"
#include "io/checkpoint.hpp"
#include "io/gguf.hpp"
#include "io/gguf_config.hpp"
#include "io/ggml_dtype.hpp"
#include "io/gguf_names.hpp"
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

void read_huggingface(const io::ModelConfig& config, const std::string& dir, const WantWeight& want,
                      const UseWeight& use) {
  io::Checkpoint checkpoint(dir);
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

// `keep`, where given, takes the tensors it accepts as the file encodes them (rows put back in
// Hugging Face's order), instead of `use` their values.
using KeepEncoded =
    std::function<bool(const ParameterSpec& spec, io::GgmlType type, std::span<const std::byte>)>;

void read_gguf(const io::ModelConfig& config, const std::string& path, const WantWeight& want,
               const UseWeight& use, const KeepEncoded& keep = {}) {
  io::GgufReader gguf(path);
  std::map<std::string, std::string> by_hf;  // HF name -> GGUF name
  for (const auto& name : gguf.tensor_names()) {
    if (name == "rope_freqs.weight") continue;  // llama3 scaling, recomputed from the config
    by_hf[io::gguf_to_hf_name(config.family, name)] = name;
  }
  for (const auto& spec : base_parameters(config)) {
    if (!want(spec.name)) continue;
    auto found = by_hf.find(spec.name);
    if (found == by_hf.end())
      fail("[model] {}: the file has no tensor {} (our {})", path,
           io::hf_to_gguf_name(config.family, spec.name), spec.name);
    const auto& info = gguf.tensor(found->second);
    std::vector<int64_t> shape(info.dims.rbegin(), info.dims.rend());
    require_shape(path, found->second, shape, spec.shape);
    if (!io::can_dequantize(info.type))
      fail("[model] {}: tensor {} is {}, which vktrain cannot dequantize yet", path,
           found->second, io::ggml_type_name(info.type));
    bool q = spec.name.ends_with("q_proj.weight"), k = spec.name.ends_with("k_proj.weight");
    std::span<const std::byte> data = gguf.data(found->second);
    // llama.cpp's q/k row order back to Hugging Face's, on the rows as encoded: whole rows move,
    // and decoding is row by row, so kept blocks and decoded values both come out in order.
    std::vector<std::byte> unpermuted;
    if (io::permutes_qk(config.family) && (q || k)) {
      unpermuted.resize(data.size());
      io::unpermute_qk_rows(unpermuted, data, q ? config.num_heads : config.num_kv_heads,
                            io::ggml_row_bytes(info.type, uint64_t(spec.shape.back())));
      data = unpermuted;
    }
    if (keep && spec.matrix() && keep(spec, info.type, data)) continue;
    std::vector<float> values = io::dequantize(data, info.type, info.elements());
    if (io::shifts_norm(config.family, spec.name)) io::norm_from_gguf(values);
    use(spec, std::move(values));
  }
}

}  // namespace

bool is_gguf_file(const std::string& path) {
  if (std::filesystem::is_directory(path)) return false;
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in && std::memcmp(magic, "GGUF", 4) == 0;
}

namespace {

// Whether `path` is a GGUF file rather than a Hugging Face directory; fails when it is neither,
// so that the config and the weights, which callers may take from different paths, say so alike.
bool is_gguf_source(const std::string& path) {
  if (is_gguf_file(path)) return true;
  if (!std::filesystem::is_directory(path))
    fail("[model] {} is neither a Hugging Face model directory nor a GGUF file", path);
  return false;
}

}  // namespace

io::ModelConfig read_model_source_config(const std::string& path) {
  if (is_gguf_source(path)) return io::model_config_from_gguf(io::GgufReader(path));
  return io::read_model_config((std::filesystem::path(path) / "config.json").string());
}

void read_base_weights(const io::ModelConfig& config, const std::string& path,
                       const WantWeight& want, const UseWeight& use) {
  if (is_gguf_source(path)) read_gguf(config, path, want, use);
  else read_huggingface(config, path, want, use);
}

void load_base_weights(Parameters& params, const io::ModelConfig& config, const std::string& path) {
  auto want = [&](const std::string& name) { return params.find(name) != nullptr; };
  auto use = [&](const ParameterSpec& spec, std::vector<float> values) {
    params.write(spec.name, values);
  };
  if (!is_gguf_source(path)) return read_huggingface(config, path, want, use);
  // A block-typed weight takes the file's blocks as they are (no requantization).
  read_gguf(config, path, want, use,
            [&](const ParameterSpec& spec, io::GgmlType type, std::span<const std::byte> bytes) {
              const Tensor& weight = params.at(spec.name).weight;
              if (!dtype_is_block(weight.dtype) || io::ggml_type_of(weight.dtype) != type)
                return false;
              params.write_encoded(spec.name, bytes, type);
              return true;
            });
}

}  // namespace vktrain::model
