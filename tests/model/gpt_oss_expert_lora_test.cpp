// LoRA on gpt-oss's experts means what PEFT's ParamWrapper makes of it on transformers 5's
// GptOssExperts (peft/tuners/lora/layer.py; that experts module is_transposed, so nothing is
// swapped): gate_up_proj [E, C, 2F] has in = C, out = 2F, and down_proj [E, F, C] in = F,
// out = C; lora_A [E r, in], lora_B [out, r E]; get_delta_weight's delta is the einsum
// "o r e, e r i -> e i o" times s, laid out as the parameter (gate_up's out columns alternate
// gate and up). On a tiny gpt_oss whose sizes all differ (E 5, C 48, F 80, r 3), with random
// adapters: the device's adapted model gives the logits of a model without adapter whose
// experts are the checkpoint's weights plus that delta, computed by reference::expert_lora_merged
// from the PEFT tensors vktrain exports, and loaded from the checkpoint's layout as the loader
// reads one.
#include <gtest/gtest.h>

#include <map>

#include "model/expert_tensors.hpp"
#include "model/harness.hpp"
#include "model/layout.hpp"
#include "model/tiny_models.hpp"
#include "reference/moe.hpp"
#include "support/support.hpp"

namespace vktrain {
namespace {

TEST(GptOssExpertLora, TheDeviceAppliesPeftsDeltaOnTheExportedTensors) {
  const io::ModelConfig config = test::tiny_config("gpt_oss");
  const size_t E = size_t(config.moe.experts), C = size_t(config.hidden_size),
               F = size_t(config.moe.intermediate_size), r = 3;
  ASSERT_EQ(std::vector<size_t>({E, C, F}), std::vector<size_t>({5, 48, 80}));
  model::ModelSetup lora_setup;
  lora_setup.lora.rank = 3;
  lora_setup.lora.alpha = 7;
  lora_setup.lora.targets = model::parse_lora_targets("experts");
  auto adapted = test::random_model(config, lora_setup, 9);
  const model::Parameters& params = adapted->parameters();

  // The adapter as vktrain writes PEFT's file.
  std::map<std::string, std::vector<float>> peft;
  for (const auto& spec : model::lora_parameters(config, lora_setup.lora))
    peft[spec.name] = model::to_peft_layout(spec, params.read(spec.name));

  // The same base, its experts merged in the checkpoint's layout by PEFT's formula.
  model::ModelSetup merged_setup;
  merged_setup.full = true;
  model::Transformer merged(test::context(), config, merged_setup);
  for (const auto& p : merged.parameters().all()) {
    std::vector<float> values = params.read(p.spec.name);
    for (const auto& piece : model::expert_pieces(config, p.spec)) {
      const bool gate_up = p.spec.name.ends_with(".gate_up_proj");
      const bool down = p.spec.name.ends_with(".down_proj");
      if (!gate_up && !down) continue;
      const std::string layer = p.spec.name.substr(0, p.spec.name.find("mlp.experts"));
      const std::string module = layer + (gate_up ? "mlp.experts.base_layer" : "mlp.experts");
      const reference::ExpertLora lora{r, lora_setup.lora.scale(),
                                       peft.at(module + ".lora_A.weight"),
                                       peft.at(module + ".lora_B.weight")};
      const auto hub = model::device_to_hub(piece, values);  // [E, in, out]
      const auto merged_hub = reference::expert_lora_merged(hub, lora, E, gate_up ? 2 * F : C,
                                                            gate_up ? C : F, true);
      ASSERT_NE(merged_hub, hub) << p.spec.name;
      values = model::hub_to_device(piece, merged_hub);
    }
    merged.parameters().write(p.spec.name, values);
  }

  const data::HostBatch batch = test::tiny_batch(config, 4);
  const test::GpuRun with_adapter = test::run_gradients(*adapted, batch, false);
  const test::GpuRun with_delta = test::run_gradients(merged, batch, false);
  // f32 both ways; x (W + s B A) against x W + s (x A^T) B^T: sums in other orders.
  EXPECT_LT(test::relative_error(with_adapter.logits, with_delta.logits), 1e-5);
  EXPECT_NEAR(with_adapter.loss, with_delta.loss, 1e-5 * with_delta.loss);
}

}  // namespace
}  // namespace vktrain
