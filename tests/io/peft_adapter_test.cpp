#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/dtype.hpp"
#include "io/peft_adapter.hpp"
#include "io/safetensors.hpp"
#include "support/support.hpp"

using namespace vktrain;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// adapter_config.json exactly as peft 0.21.2 saves LoraConfig(r=4, lora_alpha=16,
// lora_dropout=0.05, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM") for
// Qwen/Qwen3-0.6B: json.dumps(indent=2, sort_keys=True), the target set in whatever order.
// peft 0.21.0 writes the same fields (tests/fixtures/peft/qwen3-tiny/adapter_config.json).
const char* kPeftWrites = R"({
  "alora_invocation_tokens": null,
  "alpha_pattern": {},
  "arrow_config": null,
  "auto_mapping": null,
  "base_model_name_or_path": "Qwen/Qwen3-0.6B",
  "bias": "none",
  "corda_config": null,
  "ensure_weight_tying": false,
  "eva_config": null,
  "exclude_modules": null,
  "fan_in_fan_out": false,
  "inference_mode": true,
  "init_lora_weights": true,
  "kasa_config": null,
  "layer_replication": null,
  "layers_pattern": null,
  "layers_to_transform": null,
  "loftq_config": {},
  "lora_alpha": 16,
  "lora_bias": false,
  "lora_dropout": 0.05,
  "lora_ga_config": null,
  "megatron_config": null,
  "megatron_core": "megatron.core",
  "modules_to_save": null,
  "monteclora_config": null,
  "peft_type": "LORA",
  "peft_version": "0.21.2",
  "qalora_group_size": 16,
  "r": 4,
  "rank_pattern": {},
  "revision": null,
  "target_modules": [
    "v_proj",
    "q_proj"
  ],
  "target_parameters": null,
  "task_type": "CAUSAL_LM",
  "trainable_token_indices": null,
  "use_bdlora": null,
  "use_dora": false,
  "use_qalora": false,
  "use_rslora": false,
  "velora_config": null
})";

// Two layers of q_proj [16, 16] and v_proj [8, 16] adapters of rank 4.
io::PeftAdapter sample_adapter() {
  io::PeftAdapter a;
  a.lora.rank = 4;
  a.lora.alpha = 16;
  a.lora.dropout = 0.05f;
  a.lora.targets = {"v_proj", "q_proj"};
  a.base_model = "Qwen/Qwen3-0.6B";
  uint32_t seed = 1;
  for (int layer = 0; layer < 2; ++layer) {
    for (auto [module, out] : {std::pair{"q_proj", 16}, std::pair{"v_proj", 8}}) {
      std::string stem = "model.layers." + std::to_string(layer) + ".self_attn." + module;
      a.shapes[stem + ".lora_A.weight"] = {4, 16};
      a.shapes[stem + ".lora_B.weight"] = {out, 4};
      a.weights[stem + ".lora_A.weight"] = test::random_values(4 * 16, seed++);
      a.weights[stem + ".lora_B.weight"] = test::random_values(size_t(out) * 4, seed++);
    }
  }
  return a;
}

// The adapter's tensors under peft's keys: "base_model.model." + name, `infix` before ".weight".
std::vector<io::SafetensorsTensor> peft_tensors(const io::PeftAdapter& a,
                                               const std::string& infix) {
  std::vector<io::SafetensorsTensor> tensors;
  for (const auto& [name, values] : a.weights) {
    std::string key = "base_model.model." + name;
    key.insert(key.size() - std::string(".weight").size(), infix);
    tensors.push_back({key, "F32", a.shapes.at(name), std::as_bytes(std::span(values))});
  }
  return tensors;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  return names;
}

}  // namespace

TEST(PeftAdapter, WritesTheConfigPeftWritesByteForByte) {
  test::TempDir dir;
  io::write_peft_adapter(dir.file("adapter"), sample_adapter());
  EXPECT_EQ(read_text(dir.file("adapter/adapter_config.json")), std::string(kPeftWrites) + "\n");
  io::SafetensorsReader weights(dir.file("adapter/adapter_model.safetensors"));
  EXPECT_EQ(weights.metadata(), (std::map<std::string, std::string>{{"format", "pt"}}));
  const auto& a = weights.entry("base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight");
  EXPECT_EQ(a.dtype, "F32");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{8, 4}));
  EXPECT_EQ(weights.tensors().size(), 8u);
}

TEST(PeftAdapter, RoundTrip) {
  test::TempDir dir;
  io::PeftAdapter want = sample_adapter();
  want.lora.alpha = 12.5;
  want.lora.rslora = true;
  io::write_peft_adapter(dir.file("adapter"), want);
  io::PeftAdapter got = io::read_peft_adapter(dir.file("adapter"));
  EXPECT_EQ(got.lora.rank, 4);
  EXPECT_EQ(got.lora.alpha, 12.5);
  EXPECT_TRUE(got.lora.rslora);
  EXPECT_EQ(got.lora.dropout, 0.05f);
  EXPECT_EQ(got.lora.targets, want.lora.targets);
  EXPECT_EQ(got.base_model, want.base_model);
  EXPECT_EQ(got.shapes, want.shapes);
  EXPECT_EQ(got.weights, want.weights);  // f32: bit for bit
}

TEST(PeftAdapter, Bf16RoundsEachWeightOnce) {
  test::TempDir dir;
  io::PeftAdapter want = sample_adapter();
  io::write_peft_adapter(dir.file("adapter"), want, "BF16");
  io::PeftAdapter got = io::read_peft_adapter(dir.file("adapter"));
  for (const auto& [name, values] : want.weights) {
    ASSERT_EQ(got.weights[name].size(), values.size()) << name;
    for (size_t i = 0; i < values.size(); ++i)
      ASSERT_EQ(got.weights[name][i], round_to(DType::bf16, values[i])) << name << " " << i;
  }
  io::SafetensorsReader weights(dir.file("adapter/adapter_model.safetensors"));
  EXPECT_EQ(weights.entry("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight").dtype,
            "BF16");
}

TEST(PeftAdapter, ReadsWhatPeftWritesAndTheKeysPeftLoads) {
  test::TempDir dir;
  io::PeftAdapter want = sample_adapter();
  dir.write("adapter_config.json", kPeftWrites);
  // peft saves without the adapter name; a state dict taken from a live PeftModel has ".default".
  for (const char* infix : {"", ".default"}) {
    io::write_safetensors(dir.file("adapter_model.safetensors"), peft_tensors(want, infix));
    io::PeftAdapter got = io::read_peft_adapter(dir.path.string());
    EXPECT_EQ(got.lora.rank, 4);
    EXPECT_EQ(got.lora.alpha, 16.0);
    EXPECT_FALSE(got.lora.rslora);
    EXPECT_EQ(got.lora.targets, (std::vector<std::string>{"v_proj", "q_proj"}));
    EXPECT_EQ(got.weights, want.weights) << "infix '" << infix << "'";
  }
}

TEST(PeftAdapter, ReadsAnAdapterPeftSaved) {
  io::PeftAdapter a = io::read_peft_adapter(std::string(VKTRAIN_FIXTURES) + "/peft/qwen3-tiny");
  EXPECT_EQ(a.lora.rank, 4);
  EXPECT_EQ(a.lora.alpha, 16.0);
  EXPECT_EQ(a.lora.dropout, 0.05f);
  EXPECT_FALSE(a.lora.rslora);
  EXPECT_EQ(a.lora.targets, (std::vector<std::string>{"q_proj", "v_proj"}));
  EXPECT_EQ(a.base_model, "Qwen/Qwen3-0.6B");
  ASSERT_EQ(a.weights.size(), 8u);
  const std::string stem = "model.layers.1.self_attn.";
  EXPECT_EQ(a.shapes.at(stem + "q_proj.lora_A.weight"), (std::vector<int64_t>{4, 16}));
  EXPECT_EQ(a.shapes.at(stem + "q_proj.lora_B.weight"), (std::vector<int64_t>{16, 4}));
  EXPECT_EQ(a.shapes.at(stem + "v_proj.lora_B.weight"), (std::vector<int64_t>{8, 4}));
  for (const auto& [name, values] : a.weights) {  // peft starts B at zero and A random
    bool zero = std::all_of(values.begin(), values.end(), [](float x) { return x == 0; });
    EXPECT_EQ(zero, name.ends_with("lora_B.weight")) << name;
  }
}

TEST(PeftAdapter, TargetModulesAsAString) {
  test::TempDir dir;
  io::PeftAdapter want = sample_adapter();
  io::write_safetensors(dir.file("adapter_model.safetensors"), peft_tensors(want, ""));
  json config = json::parse(kPeftWrites);
  // A regex: the weights say which modules it matched, in q, k, v, o, gate, up, down order.
  config["target_modules"] = R"(.*\.(q_proj|v_proj))";
  dir.write("adapter_config.json", config.dump());
  EXPECT_EQ(io::read_peft_adapter(dir.path.string()).lora.targets,
            (std::vector<std::string>{"q_proj", "v_proj"}));
  // "all-linear" promises every projection, so weights for only two are an error.
  config["target_modules"] = "all-linear";
  dir.write("adapter_config.json", config.dump());
  std::string message = test::error_message([&] { io::read_peft_adapter(dir.path.string()); });
  EXPECT_NE(message.find("target_modules names 'k_proj' but adapter_model.safetensors has no "
                         "weights for it"),
            std::string::npos)
      << message;
  // Dotted suffixes of module paths, as peft matches list entries.
  config["target_modules"] = {"self_attn.q_proj", "v_proj"};
  dir.write("adapter_config.json", config.dump());
  EXPECT_EQ(io::read_peft_adapter(dir.path.string()).lora.targets,
            (std::vector<std::string>{"q_proj", "v_proj"}));
}

TEST(PeftAdapter, RefusesWhatIsNotPlainLoraNamingTheFileAndField) {
  test::TempDir dir;
  io::write_safetensors(dir.file("adapter_model.safetensors"), peft_tensors(sample_adapter(), ""));
  const std::string config_path = dir.file("adapter_config.json");
  auto error_with = [&](const char* key, const json& value) {
    json config = json::parse(kPeftWrites);
    config[key] = value;
    dir.write("adapter_config.json", config.dump());
    return test::error_message([&] { io::read_peft_adapter(dir.path.string()); });
  };
  EXPECT_EQ(error_with("use_dora", true),
            "[peft] " + config_path + ": field 'use_dora' is true: DoRA is not supported; vktrain "
            "reads plain LoRA adapters");
  EXPECT_EQ(error_with("peft_type", "LOHA"), "[peft] " + config_path +
                                                 ": field 'peft_type' is 'LOHA'; vktrain reads "
                                                 "LoRA adapters only");
  const std::vector<std::pair<std::string, std::string>> errors = {
      {error_with("alpha_pattern", {{"q_proj", 32}}), "field 'alpha_pattern'"},
      {error_with("layers_to_transform", 0), "field 'layers_to_transform' is 0"},
      {error_with("bias", "lora_only"), "field 'bias' is 'lora_only'"},
      {error_with("r", 0), "field 'r' is 0; the rank must be positive"},
      {error_with("r", "four"), "field 'r' has the wrong type"},
      {error_with("target_modules", {"q_proj", "lm_head"}),
       "field 'target_modules' names 'lm_head'"},
      {error_with("target_modules", {"q_proj"}),
       "adapts 'v_proj', which target_modules does not name"},
      {error_with("r", 8), "has shape [4, 16]; a lora_A weight of rank 8 is [r, in]"}};
  for (const auto& [message, part] : errors)
    EXPECT_NE(message.find(part), std::string::npos) << message;
}

TEST(PeftAdapter, BrokenOrMissingFilesAreOneErrorNamingThem) {
  test::TempDir dir;
  const std::string config_path = dir.file("adapter_config.json");
  const std::string weights_path = dir.file("adapter_model.safetensors");
  auto error = [&] {
    return test::error_message([&] { io::read_peft_adapter(dir.path.string()); });
  };

  EXPECT_NE(error().find("[peft] cannot open " + config_path), std::string::npos) << error();
  dir.write("adapter_config.json", R"({"peft_type": "LORA", "r": )");
  EXPECT_NE(error().find("[peft] " + config_path + ": not valid JSON"), std::string::npos)
      << error();
  dir.write("adapter_config.json", kPeftWrites);
  EXPECT_NE(error().find("cannot open " + weights_path), std::string::npos) << error();
  dir.write("adapter_model.bin", "pickle");
  EXPECT_NE(error().find("adapter_model.bin (a PyTorch pickle) but no adapter_model.safetensors"),
            std::string::npos)
      << error();

  io::PeftAdapter adapter = sample_adapter();
  io::write_safetensors(weights_path, peft_tensors(adapter, ""));
  fs::resize_file(weights_path, fs::file_size(weights_path) - 100);
  EXPECT_NE(error().find(weights_path), std::string::npos) << error();
  EXPECT_NE(error().find("truncated"), std::string::npos) << error();

  auto tensors = peft_tensors(adapter, "");
  tensors.erase(tensors.begin());  // layer 0 q_proj lora_A
  io::write_safetensors(weights_path, tensors);
  EXPECT_NE(error().find("'model.layers.0.self_attn.q_proj.lora_B.weight' has no partner "
                         "'model.layers.0.self_attn.q_proj.lora_A.weight'"),
            std::string::npos)
      << error();

  std::vector<float> magnitude(16, 1.0f);
  tensors = peft_tensors(adapter, "");
  tensors.push_back({"base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector",
                     "F32", {16}, std::as_bytes(std::span(magnitude))});
  io::write_safetensors(weights_path, tensors);
  EXPECT_NE(error().find("tensor 'base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_"
                         "vector' is neither a lora_A nor a lora_B weight"),
            std::string::npos)
      << error();
}

TEST(PeftAdapter, AFailedWriteLeavesNothingAndKeepsTheOldAdapter) {
  test::TempDir dir;
  const std::string target = dir.file("adapter");
  io::PeftAdapter bad = sample_adapter();
  bad.weights.begin()->second.pop_back();  // one value short of its shape
  std::string message = test::error_message([&] { io::write_peft_adapter(target, bad); });
  EXPECT_NE(message.find("has 63 values, its shape needs 64"), std::string::npos) << message;
  EXPECT_TRUE(entries(dir.path).empty());
  // A failure after adapter_config.json is written (the safetensors writer refuses the shape).
  io::PeftAdapter negative = sample_adapter();
  negative.shapes.begin()->second = {-1, 16};
  negative.weights.begin()->second.clear();
  message = test::error_message([&] { io::write_peft_adapter(target, negative); });
  EXPECT_NE(message.find("negative dimension"), std::string::npos) << message;
  EXPECT_TRUE(entries(dir.path).empty());

  io::write_peft_adapter(target, sample_adapter());
  EXPECT_NE(test::error_message([&] { io::write_peft_adapter(target, bad); }), "");
  EXPECT_NE(test::error_message([&] { io::write_peft_adapter(target, sample_adapter(), "Q4_0"); }),
            "");
  EXPECT_EQ(entries(dir.path), std::vector<std::string>{"adapter"});
  EXPECT_EQ(io::read_peft_adapter(target).weights, sample_adapter().weights);
}

// LoRA on a mixture of experts' fused weights as PEFT 0.21 saves it (make_fixtures.py's
// MOE_LORA; the names and shapes of tests/fixtures/models/qwen3_moe/expected.json's lora_tensors):
// target_parameters beside target_modules, gate_up_proj's ParamWrapper nested in down_proj's.
TEST(PeftAdapter, ExpertAdaptersAreTargetParameters) {
  test::TempDir dir;
  io::PeftAdapter want;
  want.lora = {.rank = 2, .alpha = 16, .targets = {"q_proj", "experts.gate_up_proj",
                                                   "experts.down_proj"}};
  const std::string layer = "model.layers.0.";
  uint32_t seed = 30;
  // E 3 experts, C 8, F 4: lora_A [E r, in], lora_B [out, r E].
  for (auto [name, shape] :
       {std::pair{"self_attn.q_proj.lora_A.weight", std::vector<int64_t>{2, 8}},
        {"self_attn.q_proj.lora_B.weight", {8, 2}},
        {"mlp.experts.base_layer.lora_A.weight", {6, 8}},
        {"mlp.experts.base_layer.lora_B.weight", {8, 6}},
        {"mlp.experts.lora_A.weight", {6, 4}},
        {"mlp.experts.lora_B.weight", {8, 6}}}) {
    want.shapes[layer + name] = shape;
    want.weights[layer + name] = test::random_values(size_t(shape[0] * shape[1]), seed++);
  }
  io::write_peft_adapter(dir.file("adapter"), want);
  json config = json::parse(read_text(dir.file("adapter/adapter_config.json")));
  EXPECT_EQ(config["target_modules"], json({"q_proj"}));
  EXPECT_EQ(config["target_parameters"],
            json({"mlp.experts.gate_up_proj", "mlp.experts.down_proj"}));
  io::PeftAdapter got = io::read_peft_adapter(dir.file("adapter"));
  EXPECT_EQ(got.lora.targets, want.lora.targets);
  EXPECT_EQ(got.shapes, want.shapes);
  EXPECT_EQ(got.weights, want.weights);

  // PEFT refuses dropout on parameter targets, and so does reading such a config.
  config["lora_dropout"] = 0.1;
  std::ofstream(dir.file("adapter/adapter_config.json")) << config.dump();
  std::string message = test::error_message([&] { io::read_peft_adapter(dir.file("adapter")); });
  EXPECT_NE(message.find("field 'lora_dropout' is 0.1 with target_parameters"), std::string::npos)
      << message;
  config["lora_dropout"] = 0.0;
  config["target_parameters"] = {"mlp.experts.router"};
  std::ofstream(dir.file("adapter/adapter_config.json")) << config.dump();
  message = test::error_message([&] { io::read_peft_adapter(dir.file("adapter")); });
  EXPECT_NE(message.find("field 'target_parameters' names 'mlp.experts.router'"),
            std::string::npos)
      << message;
}
