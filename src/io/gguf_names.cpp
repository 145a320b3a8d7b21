#include "io/gguf_names.hpp"

#include <charconv>
#include <cstring>
#include <optional>

#include "arch/tensor_names.hpp"
#include "base/error.hpp"

namespace vktrain::io {
namespace {

using arch::TensorNamePair;

std::vector<TensorNamePair> layer_pairs(Family family) {
  std::vector<TensorNamePair> pairs;
  for (arch::TensorNameGroup group : arch::describe(family).layer_tensors)
    pairs.insert(pairs.end(), group.begin(), group.end());
  return pairs;
}

// "prefix" N "." rest -> (N, rest) when the name has that shape with a plain decimal N.
std::optional<std::pair<int, std::string_view>> split_layer(std::string_view name,
                                                            std::string_view prefix) {
  if (!name.starts_with(prefix)) return std::nullopt;
  name.remove_prefix(prefix.size());
  size_t dot = name.find('.');
  if (dot == 0 || dot == std::string_view::npos) return std::nullopt;
  if (dot > 1 && name[0] == '0') return std::nullopt;  // "01" is not a layer number we write
  int layer = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + dot, layer);
  if (ec != std::errc() || end != name.data() + dot) return std::nullopt;
  return std::pair{layer, name.substr(dot + 1)};
}

// Maps a name from one side of the tables to the other; `to_hf` picks the direction.
std::string translate(Family family, std::string_view name, bool to_hf) {
  auto from = [&](const TensorNamePair& p) { return to_hf ? p.gguf : p.hf; };
  auto to = [&](const TensorNamePair& p) { return to_hf ? p.hf : p.gguf; };
  for (const auto& pair : arch::kModelTensors)
    if (from(pair) == name) return std::string(to(pair));
  const std::string_view in_prefix = to_hf ? "blk." : "model.layers.";
  const std::string_view out_prefix = to_hf ? "model.layers." : "blk.";
  if (auto split = split_layer(name, in_prefix))
    for (const auto& pair : layer_pairs(family))
      if (from(pair) == split->second)
        return std::string(out_prefix) + std::to_string(split->first) + "." + std::string(to(pair));
  fail("[gguf] tensor '{}' has no {} name in the {} family", name,
       to_hf ? "Hugging Face" : "GGUF", gguf_architecture(family));
}

void move_qk_rows(std::span<std::byte> out, std::span<const std::byte> in, int64_t heads,
                  size_t row_bytes, bool to_gguf) {
  const char* op = to_gguf ? "permute_qk_rows" : "unpermute_qk_rows";
  if (out.size() != in.size())
    fail("[gguf] {}: output has {} bytes, input {}", op, out.size(), in.size());
  if (heads <= 0 || row_bytes == 0 || in.size() % row_bytes)
    fail("[gguf] {}: {} bytes are not whole rows of {} bytes for {} heads", op, in.size(),
         row_bytes, heads);
  const size_t rows = in.size() / row_bytes;
  if (rows % (2 * size_t(heads)))
    fail("[gguf] {}: {} rows do not split into {} heads of an even head size", op, rows, heads);
  const size_t head_dim = rows / size_t(heads), half = head_dim / 2;
  for (size_t h = 0; h < size_t(heads); ++h)
    for (size_t s = 0; s < 2; ++s)
      for (size_t i = 0; i < half; ++i) {
        const size_t hf = h * head_dim + s * half + i, gguf = h * head_dim + 2 * i + s;
        const size_t src = to_gguf ? hf : gguf, dst = to_gguf ? gguf : hf;
        std::memcpy(out.data() + dst * row_bytes, in.data() + src * row_bytes, row_bytes);
      }
}

}  // namespace

Family family_from_gguf(std::string_view architecture, bool experts) {
  if (const arch::FamilyDescription* d = arch::family_of_gguf_architecture(architecture, experts))
    return d->family;
  fail("[gguf] architecture '{}' is not supported ({} are)", architecture,
       arch::supported_gguf_architectures());
}

std::string_view gguf_architecture(Family family) {
  return arch::describe(family).gguf_architecture;
}

std::string gguf_to_hf_name(Family family, std::string_view gguf_name) {
  return translate(family, gguf_name, true);
}

std::string hf_to_gguf_name(Family family, std::string_view hf_name) {
  return translate(family, hf_name, false);
}

std::vector<std::string> hf_tensor_names(Family family, int layers) {
  std::vector<std::string> names;
  for (const auto& pair : arch::kModelTensors) names.emplace_back(pair.hf);
  const auto pairs = layer_pairs(family);
  for (int layer = 0; layer < layers; ++layer)
    for (const auto& pair : pairs)
      names.push_back("model.layers." + std::to_string(layer) + "." + std::string(pair.hf));
  return names;
}

bool permutes_qk(Family family) { return arch::describe(family).permutes_qk; }

int64_t qk_permuted_heads(const ModelConfig& config, std::string_view hf_name) {
  if (!permutes_qk(config.family)) return 0;
  if (hf_name.ends_with("q_proj.weight")) return config.num_heads;
  if (hf_name.ends_with("k_proj.weight")) return config.num_kv_heads;
  return 0;
}

void permute_qk_rows(std::span<std::byte> out, std::span<const std::byte> in, int64_t heads,
                     size_t row_bytes) {
  move_qk_rows(out, in, heads, row_bytes, true);
}

void unpermute_qk_rows(std::span<std::byte> out, std::span<const std::byte> in, int64_t heads,
                       size_t row_bytes) {
  move_qk_rows(out, in, heads, row_bytes, false);
}

bool shifts_norm(Family family, std::string_view hf_name) {
  return arch::describe(family).shifts_norms && hf_name.ends_with("norm.weight");
}

void norm_to_gguf(std::span<float> weight) {
  for (float& w : weight) w += 1.0f;
}

void norm_from_gguf(std::span<float> weight) {
  for (float& w : weight) w -= 1.0f;
}

}  // namespace vktrain::io
