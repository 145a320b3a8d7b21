#pragma once
// Base weights into a model's parameters from the run's model source (io/model_source.hpp: a
// Hugging Face directory's model.safetensors or its shards, or a GGUF file), dequantized to
// floats on the host and rounded once to each parameter's dtype. Every base parameter must be
// found with its exact shape; a missing or misshapen tensor is one error naming the file and
// the tensor.
#include <functional>
#include <string>
#include <vector>

#include "io/model_config.hpp"
#include "io/model_source.hpp"
#include "model/parameters.hpp"

namespace vktrain::model {

// Reads each base parameter (model::base_parameters, in that order) that `want` accepts from
// `source` to host floats, row-major in Hugging Face's layout, and hands it to `use`; one tensor is
// in memory at a time. No device is needed.
using WantWeight = std::function<bool(const std::string& name)>;
using UseWeight = std::function<void(const ParameterSpec& spec, std::vector<float> values)>;
void read_base_weights(const io::ModelConfig& config, const io::ModelSource& source,
                       const WantWeight& want, const UseWeight& use);
// Loads every base parameter (model::base_parameters) present in `params` from `source`.
void load_base_weights(Parameters& params, const io::ModelConfig& config,
                       const io::ModelSource& source);

}  // namespace vktrain::model
