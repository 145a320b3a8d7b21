#include "model/expert_tensors.hpp"

#include <algorithm>
#include <memory>

#include "arch/family.hpp"
#include "arch/tensor_names.hpp"
#include "base/error.hpp"

namespace vktrain::model {

namespace {

// [E, rows, cols] -> [E, cols, rows].
std::vector<float> transpose_experts(std::span<const float> in, int64_t E, int64_t rows,
                                     int64_t cols) {
  std::vector<float> out(in.size());
  for (int64_t e = 0; e < E; ++e)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c)
        out[size_t((e * cols + c) * rows + r)] = in[size_t((e * rows + r) * cols + c)];
  return out;
}

// [E, 2F, inner]: rows 2f and 2f + 1 (gate and up alternating) -> rows f and F + f, or back.
std::vector<float> reorder_halves(std::span<const float> in, int64_t E, int64_t F, int64_t inner,
                                  bool to_halves) {
  std::vector<float> out(in.size());
  for (int64_t e = 0; e < E; ++e)
    for (int64_t f = 0; f < 2 * F; ++f) {
      const int64_t alternating = (e * 2 * F + f) * inner;
      const int64_t halves = (e * 2 * F + (f % 2) * F + f / 2) * inner;
      const int64_t from = to_halves ? alternating : halves, to = to_halves ? halves : alternating;
      std::copy_n(in.begin() + from, inner, out.begin() + to);
    }
  return out;
}

std::vector<float> reorder(const ExpertPiece& piece, std::vector<float> values, bool to_device) {
  const auto& s = piece.shape;
  uint64_t count = 1;
  for (int64_t d : s) count *= uint64_t(d);
  if (values.size() != count)
    fail("[model] {}: {} values for a tensor of {}", piece.name, values.size(), count);
  switch (piece.order) {
    case HubOrder::same: return values;
    case HubOrder::transposed:  // file [E, b, a], device [E, a, b]
      return to_device ? transpose_experts(values, s[0], s[1], s[2])
                       : transpose_experts(values, s[0], s[2], s[1]);
    case HubOrder::interleaved:  // [E, 2F]
      return reorder_halves(values, s[0], s[1] / 2, 1, to_device);
    case HubOrder::transposed_interleaved:  // file [E, C, 2F], device [E, 2F, C]
      if (to_device)
        return reorder_halves(transpose_experts(values, s[0], s[1], s[2]), s[0], s[2] / 2, s[1],
                              true);
      return transpose_experts(reorder_halves(values, s[0], s[2] / 2, s[1], false), s[0], s[2],
                               s[1]);
  }
  return values;
}

// gpt-oss's expert parameters, each one whole piece in its checkpoint's order.
std::vector<ExpertPiece> interleaved_pieces(const ParameterSpec& spec) {
  const auto& s = spec.shape;
  if (spec.name.ends_with(arch::hf::kExpertsGateUp) && s.size() == 3)
    return {{spec.name, {s[0], s[2], s[1]}, 0, HubOrder::transposed_interleaved}};
  if (spec.name.ends_with(arch::hf::kExpertsDown) && s.size() == 3)
    return {{spec.name, {s[0], s[2], s[1]}, 0, HubOrder::transposed}};
  if (spec.name.ends_with(arch::hf::kExpertsGateUpBias) && s.size() == 2)
    return {{spec.name, s, 0, HubOrder::interleaved}};
  return {};
}

}  // namespace

std::vector<float> hub_to_device(const ExpertPiece& piece, std::vector<float> values) {
  return reorder(piece, std::move(values), true);
}

std::vector<float> device_to_hub(const ExpertPiece& piece, std::vector<float> values) {
  return reorder(piece, std::move(values), false);
}

std::vector<ExpertPiece> expert_pieces(const io::ModelConfig& config, const ParameterSpec& spec) {
  const arch::MoeNames& names = arch::describe(config.family).experts;
  if (names.interleaved_gate_up) return interleaved_pieces(spec);
  auto stem = [&](std::string_view suffix) -> std::optional<std::string> {
    if (!spec.name.ends_with(suffix)) return std::nullopt;
    return spec.name.substr(0, spec.name.size() - suffix.size());
  };
  if (const auto layer = stem(arch::hf::kRouter); layer && names.router != arch::hf::kRouter)
    return {{*layer + std::string(names.router), spec.shape, 0}};
  const auto gate_up = stem(arch::hf::kExpertsGateUp), down = stem(arch::hf::kExpertsDown);
  if ((!gate_up && !down) || spec.shape.size() != 3) return {};
  const std::string experts = (gate_up ? *gate_up : *down) + std::string(names.experts_prefix);
  const int64_t E = spec.shape[0], rows = spec.shape[1], cols = spec.shape[2];
  std::vector<ExpertPiece> pieces;
  for (int64_t e = 0; e < E; ++e) {
    const std::string prefix = experts + std::to_string(e) + ".";
    const uint64_t first = uint64_t(e * rows * cols);
    if (gate_up) {
      const int64_t F = rows / 2;
      pieces.push_back({prefix + std::string(names.gate), {F, cols}, first});
      pieces.push_back({prefix + std::string(names.up), {F, cols}, first + uint64_t(F * cols)});
    } else {
      pieces.push_back({prefix + std::string(names.down), {rows, cols}, first});
    }
  }
  return pieces;
}

std::vector<HubTensor> hub_tensors(const io::ModelConfig& config,
                                   const std::vector<ParameterSpec>& specs) {
  std::vector<HubTensor> tensors;
  for (size_t i = 0; i < specs.size(); ++i) {
    std::vector<ExpertPiece> pieces = expert_pieces(config, specs[i]);
    if (pieces.empty()) tensors.push_back({specs[i].name, specs[i].shape, i, 0});
    for (auto& piece : pieces)
      tensors.push_back(
          {std::move(piece.name), std::move(piece.shape), i, piece.offset, piece.order});
  }
  return tensors;
}

bool is_expert_matrix(const std::string& name) {
  return name.ends_with(arch::hf::kExpertsGateUp) || name.ends_with(arch::hf::kExpertsDown);
}

std::optional<GateUpHalves> gate_up_halves(const ParameterSpec& spec) {
  struct Fused {
    std::string_view name, gate, up;
    size_t dims;
  };
  for (const Fused& f : {Fused{arch::hf::kExpertsGateUp, arch::hf::kExpertsGate,
                               arch::hf::kExpertsUp, 3},
                         Fused{arch::hf::kExpertsGateUpBias, arch::hf::kExpertsGateBias,
                               arch::hf::kExpertsUpBias, 2}}) {
    if (!spec.name.ends_with(f.name) || spec.shape.size() != f.dims) continue;
    const std::string layer = spec.name.substr(0, spec.name.size() - f.name.size());
    std::vector<int64_t> half = spec.shape;
    half[1] /= 2;
    return GateUpHalves{layer + std::string(f.gate), layer + std::string(f.up), std::move(half)};
  }
  return std::nullopt;
}

namespace {

// split_gate_up / join_gate_up on values or on encoded rows (whole blocks): one expert's half is
// a contiguous run either way.
template <typename T>
std::pair<std::vector<T>, std::vector<T>> split_halves(std::span<const T> gate_up,
                                                      int64_t experts) {
  if (experts <= 0 || gate_up.size() % size_t(2 * experts))
    fail("[model] split_gate_up: {} values are not {} experts' gate and up halves",
         gate_up.size(), experts);
  const size_t half = gate_up.size() / size_t(2 * experts);
  std::pair<std::vector<T>, std::vector<T>> out;
  for (size_t e = 0; e < size_t(experts); ++e) {
    auto first = gate_up.begin() + int64_t(2 * e * half);
    out.first.insert(out.first.end(), first, first + int64_t(half));
    out.second.insert(out.second.end(), first + int64_t(half), first + int64_t(2 * half));
  }
  return out;
}

template <typename T>
std::vector<T> join_halves(std::span<const T> gate, std::span<const T> up, int64_t experts) {
  if (experts <= 0 || gate.size() != up.size() || gate.size() % size_t(experts))
    fail("[model] join_gate_up: gate ({} values) and up ({}) are not {} experts' halves",
         gate.size(), up.size(), experts);
  const size_t half = gate.size() / size_t(experts);
  std::vector<T> out;
  out.reserve(2 * gate.size());
  for (size_t e = 0; e < size_t(experts); ++e) {
    out.insert(out.end(), gate.begin() + int64_t(e * half), gate.begin() + int64_t((e + 1) * half));
    out.insert(out.end(), up.begin() + int64_t(e * half), up.begin() + int64_t((e + 1) * half));
  }
  return out;
}

}  // namespace

std::pair<std::vector<float>, std::vector<float>> split_gate_up(std::span<const float> gate_up,
                                                                int64_t experts) {
  return split_halves(gate_up, experts);
}

std::vector<float> join_gate_up(std::span<const float> gate, std::span<const float> up,
                                int64_t experts) {
  return join_halves(gate, up, experts);
}

std::pair<std::vector<std::byte>, std::vector<std::byte>> split_gate_up(
    std::span<const std::byte> gate_up, int64_t experts) {
  return split_halves(gate_up, experts);
}

std::vector<std::byte> join_gate_up(std::span<const std::byte> gate,
                                    std::span<const std::byte> up, int64_t experts) {
  return join_halves(gate, up, experts);
}

std::function<std::vector<float>(size_t)> hub_values(
    const std::vector<HubTensor>& tensors,
    std::function<std::vector<float>(size_t parameter)> parameter_values) {
  // The parameter whose pieces are being written, kept until the next one is asked for.
  struct Held {
    size_t parameter = SIZE_MAX;
    std::vector<float> values;
  };
  auto held = std::make_shared<Held>();
  return [&tensors, values = std::move(parameter_values), held](size_t i) {
    const HubTensor& t = tensors[i];
    if (held->parameter != t.parameter) {
      held->values = values(t.parameter);
      held->parameter = t.parameter;
    }
    uint64_t count = 1;
    for (int64_t d : t.shape) count *= uint64_t(d);
    if (t.offset == 0 && count == held->values.size()) {  // the whole parameter: its only tensor
      held->parameter = SIZE_MAX;
      return device_to_hub({t.name, t.shape, 0, t.order}, std::move(held->values));
    }
    return std::vector<float>(held->values.begin() + int64_t(t.offset),
                              held->values.begin() + int64_t(t.offset + count));
  };
}

}  // namespace vktrain::model
