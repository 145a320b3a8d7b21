#pragma once
// Random initial weights for pre-training, as transformers' _init_weights sets them: every linear
// and embedding weight from normal(0, initializer_range), biases zero, RMSNorm weights one, or
// zero for Gemma-3 whose RMSNorm multiplies by (1 + w). Like nn.Embedding with a padding_idx,
// Gemma-3's embedding row of its pad token (0, Gemma3TextConfig's pad_token_id) is zero; the
// other families have no pad token in their configs. Names and shapes are
// model::base_parameters(config)'s.
//
// The numbers come from our own generator, not std::normal_distribution (whose algorithm differs
// between standard libraries): each tensor has its own xoshiro256** stream, seeded through
// splitmix64 from `seed` and the tensor's name, so a tensor's values depend on neither the order
// of the others nor which others exist; Box-Muller turns pairs of 53-bit uniforms into normals in
// double, rounded once to float. The integer steps are exact everywhere; log, cos and sin come
// from the platform's libm, so two different libms may disagree in the last bit of a rare value.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "io/model_config.hpp"
#include "model/layout.hpp"
#include "model/parameters.hpp"

namespace vktrain::model {

// The values of one base parameter, row-major in spec.shape.
std::vector<float> initial_values(const io::ModelConfig& config, const ParameterSpec& spec,
                                  uint64_t seed, double initializer_range = 0.02);

// Every base parameter by name.
std::map<std::string, std::vector<float>> initial_weights(const io::ModelConfig& config,
                                                          uint64_t seed,
                                                          double initializer_range = 0.02);

// A LoRA tensor as PEFT initialises it: A uniform in +-1/sqrt(in) (kaiming_uniform_ with
// a = sqrt(5)), B zero, so the adapted model starts equal to the base.
std::vector<float> initial_adapter_values(const ParameterSpec& spec, uint64_t seed);
void initialize_adapter(Parameters& params, uint64_t seed);

}  // namespace vktrain::model
