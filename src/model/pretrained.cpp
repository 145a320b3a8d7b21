#include "model/pretrained.hpp"

#include "model/adapter_merge.hpp"
#include "model/loader.hpp"

namespace vktrain::model {

io::PeftAdapter read_fitting_adapter(const std::string& adapter_dir, const io::ModelConfig& config) {
  io::PeftAdapter adapter = io::read_peft_adapter(adapter_dir);
  check_adapter_fits(adapter, config, adapter_dir);
  return adapter;
}

void load_adapter_weights(Parameters& params, const io::ModelConfig& config,
                          const io::PeftAdapter& adapter) {
  for (const auto& spec : lora_parameters(config, adapter.lora))
    params.write(spec.name, from_peft_layout(spec, adapter.weights.at(spec.name)));
}

std::unique_ptr<Transformer> load_pretrained(vk::Context& context, const io::ModelConfig& config,
                                             const io::ModelSource& source,
                                             const std::optional<std::string>& adapter_dir,
                                             DType dtype,
                                             const std::map<std::string, DType>& quantized) {
  ModelSetup setup;
  setup.dtype = dtype;
  setup.quantized = quantized;
  std::optional<io::PeftAdapter> adapter;
  if (adapter_dir) {
    adapter = read_fitting_adapter(*adapter_dir, config);
    setup.lora = adapter->lora;
    setup.lora.dropout = 0;  // inference
  }
  auto model = std::make_unique<Transformer>(context, config, setup);
  load_base_weights(model->parameters(), config, source);
  if (adapter) load_adapter_weights(model->parameters(), config, *adapter);
  return model;
}

}  // namespace vktrain::model
