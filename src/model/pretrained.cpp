#include "model/pretrained.hpp"

#include "io/peft_adapter.hpp"
#include "model/adapter_merge.hpp"
#include "model/loader.hpp"

namespace vktrain::model {

std::unique_ptr<Transformer> load_pretrained(vk::Context& context, const std::string& model_path,
                                             const std::optional<std::string>& adapter_dir,
                                             DType dtype) {
  io::ModelConfig config = read_model_source_config(model_path);
  ModelSetup setup;
  setup.dtype = dtype;
  std::optional<io::PeftAdapter> adapter;
  if (adapter_dir) {
    adapter = io::read_peft_adapter(*adapter_dir);
    check_adapter_fits(*adapter, config, *adapter_dir);
    setup.lora = adapter->lora;
    setup.lora.dropout = 0;  // inference
  }
  auto model = std::make_unique<Transformer>(context, config, setup);
  load_base_weights(model->parameters(), config, model_path);
  if (adapter)
    for (const auto& spec : lora_parameters(config, setup.lora))
      model->parameters().write(spec.name, adapter->weights.at(spec.name));
  return model;
}

}  // namespace vktrain::model
