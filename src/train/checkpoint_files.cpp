#include "train/checkpoint_files.hpp"

#include <cstring>
#include <filesystem>

#include "base/error.hpp"
#include "io/model_config_writer.hpp"
#include "io/model_files.hpp"
#include "io/peft_adapter.hpp"
#include "io/safetensors.hpp"
#include "model/expert_tensors.hpp"

namespace vktrain::train {

namespace {

constexpr const char* kModelFile = "model.safetensors";
constexpr const char* kOptimizerFile = "optimizer.safetensors";
// The header metadata key naming the optimizer whose state the file holds (absent: adamw, as
// every checkpoint before adamw_8bit).
constexpr const char* kOptimizerKey = "optimizer";

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

// Every state tensor of the optimizer as (parameter, index among its state), in file order: the
// order in which rank 0 writes them and the other ranks of a sharded optimizer send theirs.
std::vector<std::pair<const model::Parameter*, size_t>> state_tensors(
    const model::Parameters& params, const Optimizer& optimizer) {
  std::vector<std::pair<const model::Parameter*, size_t>> tensors;
  for (const auto& p : params.all())
    if (p.trainable)
      for (size_t i = 0; i < optimizer.state_tensors(p).size(); ++i) tensors.emplace_back(&p, i);
  return tensors;
}

// State tensor `t`'s values in the file's bytes: F32, or U8 codes.
std::vector<std::byte> state_bytes(const StateTensor& t, const std::vector<float>& values) {
  if (!t.codes) {
    std::vector<std::byte> bytes(values.size() * sizeof(float));
    std::memcpy(bytes.data(), values.data(), bytes.size());
    return bytes;
  }
  std::vector<std::byte> bytes(values.size());
  for (size_t i = 0; i < values.size(); ++i) bytes[i] = std::byte(uint8_t(values[i]));
  return bytes;
}

std::vector<float> state_values(const io::SafetensorsReader& file, const std::string& path,
                                const StateTensor& t) {
  if (!t.codes) return f32_values(file, path, t.name, t.shape);
  const auto& entry = file.entry(t.name);
  if (entry.dtype != "U8" || entry.shape != t.shape)
    fail("[checkpoint] {}: tensor {} must be U8 of shape [{}]", path, t.name,
         fmt::join(t.shape, ", "));
  std::vector<float> values;
  for (std::byte b : file.data(t.name)) values.push_back(float(uint8_t(b)));
  return values;
}

// A parameter's value: from `masters` when it trains and they are given.
std::vector<float> value_of(const model::Parameters& params, const std::string& name,
                            const Masters* masters) {
  if (masters && params.at(name).trainable) return masters->at(name);
  return params.read(name);
}

}  // namespace

Masters read_masters(const model::Parameters& params, const Optimizer& optimizer) {
  Masters masters;
  for (const auto& p : params.all())
    if (p.trainable)
      if (std::vector<float> values = optimizer.read_master(p); !values.empty())
        masters[p.spec.name] = std::move(values);
  return masters;
}

io::PeftAdapter adapter_of(const model::Transformer& model, const std::string& base_model,
                           const Masters* masters) {
  io::PeftAdapter adapter;
  adapter.lora = model.setup().lora;
  adapter.base_model = base_model;
  for (const auto& p : model.parameters().all())
    if (model::is_lora_parameter(p.spec.name)) {
      adapter.weights[p.spec.name] =
          model::to_peft_layout(p.spec, value_of(model.parameters(), p.spec.name, masters));
      adapter.shapes[p.spec.name] = model::peft_shape(p.spec);
    }
  return adapter;
}

void write_trainable(const std::string& dir, const model::Transformer& model,
                     const Optimizer& optimizer, const std::string& base_model) {
  const model::Parameters& params = model.parameters();
  // The masters first (gathered from the ranks when sharded, as send_trainable sends them);
  // then the optimizer's state of each parameter in turn, read when the writer asks for it.
  const Masters masters = read_masters(params, optimizer);
  const auto state = state_tensors(params, optimizer);
  std::vector<io::NamedShape> weights;
  for (const auto& p : params.all())
    if (p.trainable && !model::is_lora_parameter(p.spec.name))
      weights.push_back({p.spec.name, p.spec.shape});
  if (model.setup().lora.rank > 0)
    io::write_peft_files(dir, adapter_of(model, base_model, &masters));
  if (!weights.empty())
    io::write_model_safetensors(
        dir + "/" + kModelFile, weights, [&](size_t i) { return masters.at(weights[i].name); },
        DType::f32);
  std::vector<std::vector<std::byte>> data;  // kept until the file is written
  std::vector<io::SafetensorsTensor> entries;
  data.reserve(state.size());
  for (const auto& [p, i] : state) {
    const StateTensor t = optimizer.state_tensors(*p)[i];
    data.push_back(state_bytes(t, optimizer.read_state(*p, i)));
    entries.push_back({t.name, t.codes ? "U8" : "F32", t.shape, data.back()});
  }
  io::write_safetensors(dir + "/" + kOptimizerFile, entries,
                        {{"format", "pt"}, {kOptimizerKey, optimizer_name(optimizer.kind())}});
}

void send_trainable(const model::Parameters& params, const Optimizer& optimizer) {
  read_masters(params, optimizer);
  for (const auto& [p, i] : state_tensors(params, optimizer)) optimizer.read_state(*p, i);
}

void write_model_directory(const std::string& dir, const model::Transformer& model,
                           const std::string& base_model, const Masters* masters) {
  const DType dtype = model.setup().dtype;
  io::write_model_config(dir + "/config.json", model.config(), dtype);
  const auto specs = model::base_parameters(model.config());
  // Experts as the hub's checkpoints hold them.
  const auto hub = model::hub_tensors(model.config(), specs);
  std::vector<io::NamedShape> tensors;
  for (const auto& t : hub) tensors.push_back({t.name, t.shape});
  io::write_model_safetensors(
      dir + "/" + kModelFile, tensors,
      model::hub_values(hub,
                        [&](size_t i) { return value_of(model.parameters(), specs[i].name, masters); }),
      dtype);
  if (std::filesystem::is_directory(base_model))
    io::copy_tokenizer_files(base_model, dir, "train");
}

void read_trainable(model::Parameters& params, Optimizer& optimizer, const std::string& dir) {
  std::optional<io::PeftAdapter> adapter;
  if (std::filesystem::exists(dir + "/" + io::kPeftConfigFile)) adapter = io::read_peft_adapter(dir);
  std::optional<io::SafetensorsReader> weights;
  if (std::filesystem::exists(dir + "/" + kModelFile)) weights.emplace(dir + "/" + kModelFile);
  const std::string optimizer_path = dir + "/" + kOptimizerFile;
  io::SafetensorsReader state_file(optimizer_path);
  const auto saved = state_file.metadata().find(kOptimizerKey);
  const std::string saved_name = saved == state_file.metadata().end() ? "adamw" : saved->second;
  if (saved_name != optimizer_name(optimizer.kind()))
    fail("[checkpoint] {}: it holds the state of optimizer {}, this run's is {}; resume with "
         "--optimizer {} or start a new run",
         optimizer_path, saved_name, optimizer_name(optimizer.kind()), saved_name);
  for (const auto& p : params.all()) {
    if (!p.trainable) continue;
    const std::string& name = p.spec.name;
    if (model::is_lora_parameter(name)) {
      if (!adapter || !adapter->weights.count(name))
        fail("[checkpoint] {}: the adapter has no {}", dir, name);
      if (adapter->shapes.at(name) != model::peft_shape(p.spec))
        fail("[checkpoint] {}: the adapter's {} has shape [{}], the run's is [{}]", dir, name,
             fmt::join(adapter->shapes.at(name), ", "), fmt::join(model::peft_shape(p.spec), ", "));
      params.write(name, model::from_peft_layout(p.spec, adapter->weights.at(name)));
    } else {
      if (!weights) fail("[checkpoint] {}: {} is missing", dir, kModelFile);
      params.write(name, f32_values(*weights, dir + "/" + kModelFile, name, p.spec.shape));
    }
    const std::vector<StateTensor> tensors = optimizer.state_tensors(p);
    for (size_t i = 0; i < tensors.size(); ++i) {
      const std::vector<float> values = state_values(state_file, optimizer_path, tensors[i]);
      try {  // a value the optimizer refuses (a code or absmax out of range): name the file
        optimizer.write_state(p, i, values);
      } catch (const Error& e) {
        fail("[checkpoint] {}: {}", optimizer_path, e.what());
      }
    }
  }
}

}  // namespace vktrain::train
