#include "model/init.hpp"

#include <cmath>
#include <numbers>

#include "arch/family.hpp"
#include "arch/tensor_names.hpp"
#include "base/random.hpp"

namespace vktrain::model {
namespace {

// FNV-1a: a tensor's name picks its stream.
uint64_t name_hash(const std::string& name) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char ch : name) h = (h ^ ch) * 0x100000001b3ull;
  return h;
}

void fill_normal(std::vector<float>& out, Xoshiro256& rng, double std) {
  for (size_t i = 0; i < out.size(); i += 2) {
    const double radius = std * std::sqrt(-2.0 * std::log(rng.uniform()));
    const double angle = 2.0 * std::numbers::pi * rng.uniform();
    out[i] = float(radius * std::cos(angle));
    if (i + 1 < out.size()) out[i + 1] = float(radius * std::sin(angle));
  }
}

}  // namespace

std::vector<float> initial_values(const io::ModelConfig& config, const ParameterSpec& spec,
                                  uint64_t seed, double initializer_range) {
  const size_t count = size_t(spec.elements());
  std::vector<float> values(count, 0.0f);
  // transformers draws the matrices, and gpt-oss's sinks and router bias, from N(0, range);
  // other biases start at zero, RMSNorm weights at one.
  const bool drawn = spec.matrix() || spec.name.ends_with(arch::hf::kSinks) ||
                     spec.name.ends_with(arch::hf::kRouterBias);
  if (!drawn) {
    if (!spec.name.ends_with("bias") && !config.norm_plus_one) values.assign(count, 1.0f);
    return values;
  }
  uint64_t state = seed;
  Xoshiro256 rng(splitmix64(state) ^ name_hash(spec.name));
  fill_normal(values, rng, initializer_range);
  const int64_t padding_idx = arch::describe(config.family).padding_idx;
  if (padding_idx >= 0 && padding_idx < spec.shape[0] && spec.name == arch::hf::kEmbedTokens)
    std::fill_n(values.begin() + padding_idx * spec.shape[1], spec.shape[1], 0.0f);
  return values;
}

std::vector<float> initial_adapter_values(const ParameterSpec& spec, uint64_t seed) {
  std::vector<float> values(size_t(spec.elements()), 0.0f);
  if (spec.name.ends_with(".lora_B.weight")) return values;
  // PEFT: kaiming_uniform_(A, a=sqrt(5)), whose bound gain * sqrt(3 / fan_in) with
  // gain = sqrt(2 / (1 + 5)) is 1 / sqrt(fan_in); fan_in is the last dimension, an expert
  // adapter's A [E, R, in] being PEFT's nn.Linear(in, R E).
  const double bound = 1.0 / std::sqrt(double(spec.shape.back()));
  uint64_t state = seed;
  Xoshiro256 rng(splitmix64(state) ^ name_hash(spec.name));
  for (float& v : values) v = float(bound * (2.0 * rng.uniform() - 1.0));
  return values;
}

void initialize_adapter(Parameters& params, uint64_t seed) {
  for (const auto& p : params.all())
    if (is_lora_parameter(p.spec.name))
      params.write(p.spec.name, initial_adapter_values(p.spec, seed));
}

std::map<std::string, std::vector<float>> initial_weights(const io::ModelConfig& config,
                                                          uint64_t seed, double initializer_range) {
  std::map<std::string, std::vector<float>> weights;
  for (const ParameterSpec& spec : base_parameters(config))
    weights[spec.name] = initial_values(config, spec, seed, initializer_range);
  return weights;
}

}  // namespace vktrain::model
