#include "train/checkpoint_files.hpp"

#include <cstring>
#include <filesystem>

#include "base/error.hpp"
#include "io/model_config_writer.hpp"
#include "io/model_files.hpp"
#include "io/peft_adapter.hpp"
#include "io/safetensors.hpp"

namespace vktrain::train {

namespace {

constexpr const char* kModelFile = "model.safetensors";
constexpr const char* kOptimizerFile = "optimizer.safetensors";

// Named f32 tensors kept alive while write_safetensors reads them.
struct F32Tensors {
  std::vector<std::vector<float>> data;
  std::vector<io::SafetensorsTensor> tensors;
  void add(const std::string& name, const std::vector<int64_t>& shape, std::vector<float> values) {
    data.push_back(std::move(values));
    tensors.push_back({name, "F32", shape, std::as_bytes(std::span(data.back()))});
  }
};

std::vector<float> f32_values(const io::SafetensorsReader& file, const std::string& path,
                              const std::string& name, const std::vector<int64_t>& shape) {
  const auto& entry = file.entry(name);
  if (entry.dtype != "F32" || entry.shape != shape)
    fail("[checkpoint] {}: tensor {} must be F32 of the parameter's shape", path, name);
  auto bytes = file.data(name);
  std::vector<float> values(bytes.size() / 4);
  std::memcpy(values.data(), bytes.data(), bytes.size());
  return values;
}

}  // namespace

io::PeftAdapter adapter_of(const model::Transformer& model, const std::string& base_model) {
  io::PeftAdapter adapter;
  adapter.lora = model.setup().lora;
  adapter.base_model = base_model;
  for (const auto& p : model.parameters().all())
    if (model::is_lora_parameter(p.spec.name)) {
      adapter.weights[p.spec.name] = model.parameters().read(p.spec.name);
      adapter.shapes[p.spec.name] = p.spec.shape;
    }
  return adapter;
}

void write_trainable(const std::string& dir, const model::Transformer& model,
                     const std::string& base_model) {
  const model::Parameters& params = model.parameters();
  vk::Context& ctx = params.context();
  F32Tensors optimizer, weights;
  for (const auto& p : params.all()) {
    if (!p.trainable) continue;
    const std::string& name = p.spec.name;
    optimizer.add("exp_avg." + name, p.spec.shape, read_floats(ctx, params.first_moment(name)));
    optimizer.add("exp_avg_sq." + name, p.spec.shape,
                  read_floats(ctx, params.second_moment(name)));
    if (!model::is_lora_parameter(name)) weights.add(name, p.spec.shape, params.read(name));
  }
  if (model.setup().lora.rank > 0) io::write_peft_files(dir, adapter_of(model, base_model));
  if (!weights.tensors.empty()) io::write_safetensors(dir + "/" + kModelFile, weights.tensors);
  io::write_safetensors(dir + "/" + kOptimizerFile, optimizer.tensors);
}

void write_model_directory(const std::string& dir, const model::Transformer& model,
                           const std::string& base_model) {
  const DType dtype = model.setup().dtype;
  io::write_model_config(dir + "/config.json", model.config(), dtype);
  std::vector<io::NamedShape> tensors;
  for (const auto& spec : model::base_parameters(model.config()))
    tensors.push_back({spec.name, spec.shape});
  io::write_model_safetensors(
      dir + "/" + kModelFile, tensors,
      [&](size_t i) { return model.parameters().read(tensors[i].name); }, dtype);
  if (std::filesystem::is_directory(base_model))
    io::copy_tokenizer_files(base_model, dir, "train");
}

void read_trainable(model::Parameters& params, const std::string& dir) {
  vk::Context& ctx = params.context();
  std::optional<io::PeftAdapter> adapter;
  if (std::filesystem::exists(dir + "/" + io::kPeftConfigFile)) adapter = io::read_peft_adapter(dir);
  std::optional<io::SafetensorsReader> weights;
  if (std::filesystem::exists(dir + "/" + kModelFile)) weights.emplace(dir + "/" + kModelFile);
  const std::string optimizer_path = dir + "/" + kOptimizerFile;
  io::SafetensorsReader optimizer(optimizer_path);
  for (const auto& p : params.all()) {
    if (!p.trainable) continue;
    const std::string& name = p.spec.name;
    if (model::is_lora_parameter(name)) {
      if (!adapter || !adapter->weights.count(name))
        fail("[checkpoint] {}: the adapter has no {}", dir, name);
      if (adapter->shapes.at(name) != p.spec.shape)
        fail("[checkpoint] {}: the adapter's {} has shape [{}], the run's is [{}]", dir, name,
             fmt::join(adapter->shapes.at(name), ", "), fmt::join(p.spec.shape, ", "));
      params.write(name, adapter->weights.at(name));
    } else {
      if (!weights) fail("[checkpoint] {}: {} is missing", dir, kModelFile);
      params.write(name, f32_values(*weights, dir + "/" + kModelFile, name, p.spec.shape));
    }
    Tensor m = params.first_moment(name), v = params.second_moment(name);
    write_floats(ctx, m, f32_values(optimizer, optimizer_path, "exp_avg." + name, p.spec.shape));
    write_floats(ctx, v, f32_values(optimizer, optimizer_path, "exp_avg_sq." + name, p.spec.shape));
  }
}

}  // namespace vktrain::train
