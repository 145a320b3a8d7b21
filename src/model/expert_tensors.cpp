#include "model/expert_tensors.hpp"

#include <memory>

#include "arch/family.hpp"
#include "arch/tensor_names.hpp"
#include "base/error.hpp"

namespace vktrain::model {

std::vector<ExpertPiece> expert_pieces(const io::ModelConfig& config, const ParameterSpec& spec) {
  const arch::MoeNames& names = arch::describe(config.family).experts;
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
      tensors.push_back({std::move(piece.name), std::move(piece.shape), i, piece.offset});
  }
  return tensors;
}

std::optional<GateUpHalves> gate_up_halves(const ParameterSpec& spec) {
  const std::string_view suffix = arch::hf::kExpertsGateUp;
  if (!spec.name.ends_with(suffix) || spec.shape.size() != 3) return std::nullopt;
  const std::string layer = spec.name.substr(0, spec.name.size() - suffix.size());
  return GateUpHalves{layer + arch::hf::kExpertsGate, layer + arch::hf::kExpertsUp,
                      {spec.shape[0], spec.shape[1] / 2, spec.shape[2]}};
}

std::pair<std::vector<float>, std::vector<float>> split_gate_up(std::span<const float> gate_up,
                                                                int64_t experts) {
  if (experts <= 0 || gate_up.size() % size_t(2 * experts))
    fail("[model] split_gate_up: {} values are not {} experts' gate and up halves",
         gate_up.size(), experts);
  const size_t half = gate_up.size() / size_t(2 * experts);
  std::pair<std::vector<float>, std::vector<float>> out;
  for (size_t e = 0; e < size_t(experts); ++e) {
    auto first = gate_up.begin() + int64_t(2 * e * half);
    out.first.insert(out.first.end(), first, first + int64_t(half));
    out.second.insert(out.second.end(), first + int64_t(half), first + int64_t(2 * half));
  }
  return out;
}

std::vector<float> join_gate_up(std::span<const float> gate, std::span<const float> up,
                                int64_t experts) {
  if (experts <= 0 || gate.size() != up.size() || gate.size() % size_t(experts))
    fail("[model] join_gate_up: gate ({} values) and up ({}) are not {} experts' halves",
         gate.size(), up.size(), experts);
  const size_t half = gate.size() / size_t(experts);
  std::vector<float> out;
  out.reserve(2 * gate.size());
  for (size_t e = 0; e < size_t(experts); ++e) {
    out.insert(out.end(), gate.begin() + int64_t(e * half), gate.begin() + int64_t((e + 1) * half));
    out.insert(out.end(), up.begin() + int64_t(e * half), up.begin() + int64_t((e + 1) * half));
  }
  return out;
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
      return std::move(held->values);
    }
    return std::vector<float>(held->values.begin() + int64_t(t.offset),
                              held->values.begin() + int64_t(t.offset + count));
  };
}

}  // namespace vktrain::model
