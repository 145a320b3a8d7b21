#include "model/init.hpp"

#include <cmath>
#include <numbers>

namespace vktrain::model {
namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// FNV-1a: a tensor's name picks its stream.
uint64_t name_hash(const std::string& name) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char ch : name) h = (h ^ ch) * 0x100000001b3ull;
  return h;
}

// xoshiro256** (Blackman and Vigna), its state filled by splitmix64 as its authors advise.
class Xoshiro256 {
 public:
  explicit Xoshiro256(uint64_t seed) {
    for (uint64_t& s : s_) s = splitmix64(seed);
  }
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // In (0, 1], so that log() stays finite.
  double uniform() { return double((next() >> 11) + 1) * 0x1.0p-53; }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

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
  size_t count = 1;
  for (int64_t d : spec.shape) count *= size_t(d);
  std::vector<float> values(count, 0.0f);
  if (spec.name.ends_with(".bias")) return values;
  if (!spec.matrix()) {  // an RMSNorm weight
    if (!config.norm_plus_one) values.assign(count, 1.0f);
    return values;
  }
  uint64_t state = seed;
  Xoshiro256 rng(splitmix64(state) ^ name_hash(spec.name));
  fill_normal(values, rng, initializer_range);
  if (config.family == io::Family::gemma3 && spec.name == "model.embed_tokens.weight")
    std::fill(values.begin(), values.begin() + spec.shape[1], 0.0f);  // the pad token's row
  return values;
}

std::map<std::string, std::vector<float>> initial_weights(const io::ModelConfig& config,
                                                          uint64_t seed, double initializer_range) {
  std::map<std::string, std::vector<float>> weights;
  for (const ParameterSpec& spec : base_parameters(config))
    weights[spec.name] = initial_values(config, spec, seed, initializer_range);
  return weights;
}

}  // namespace vktrain::model
