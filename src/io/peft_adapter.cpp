#include "io/peft_adapter.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <set>

#include <fmt/ranges.h>

#include "base/error.hpp"
#include "io/atomic_dir.hpp"
#include "io/json_file.hpp"
#include "io/quant.hpp"
#include "io/safetensors.hpp"

namespace vktrain::io {
namespace {

using nlohmann::json;

constexpr std::string_view kWeightPrefix = "base_model.model.";
// The peft release whose adapter_config.json we reproduce field for field.
constexpr const char* kPeftVersion = "0.21.2";

// Config fields of peft features that change the forward pass or the set of weights away from
// plain LoRA, and what to call them in the error. Each is off when null, false, {} or [].
struct Unsupported {
  const char* field;
  const char* feature;
};
constexpr Unsupported kUnsupported[] = {
    {"use_dora", "DoRA"},
    {"use_qalora", "QA-LoRA"},
    {"lora_bias", "a bias on lora_B"},
    {"fan_in_fan_out", "(fan_in, fan_out) weights"},
    {"rank_pattern", "a rank per module"},
    {"alpha_pattern", "an alpha per module"},
    {"layers_to_transform", "adapting only some layers"},
    {"layer_replication", "layer replication"},
    {"exclude_modules", "excluding modules"},
    {"modules_to_save", "training whole extra modules"},
    {"trainable_token_indices", "trainable tokens"},
    {"alora_invocation_tokens", "activated LoRA"},
    {"arrow_config", "Arrow routing"},
};

bool switched_on(const json& value) {
  return !(value.is_null() || value == false ||
           ((value.is_object() || value.is_array()) && value.empty()));
}

std::optional<GgmlType> float_type(std::string_view dtype) {
  if (dtype == "F32") return GgmlType::f32;
  if (dtype == "F16") return GgmlType::f16;
  if (dtype == "BF16") return GgmlType::bf16;
  return std::nullopt;
}

uint64_t element_count(const std::vector<int64_t>& shape) {
  uint64_t n = 1;
  for (int64_t d : shape) n *= uint64_t(std::max<int64_t>(d, 0));
  return n;
}

bool expert_target(const std::string& name) {
  return std::ranges::any_of(kExpertTargets, [&](const char* t) { return name == t; });
}

json config_json(const PeftAdapter& adapter) {
  const LoraConfig& lora = adapter.lora;
  // Expert weights are PEFT's target_parameters ("mlp.experts.gate_up_proj"), the rest its
  // target_modules; null where there are none, as LoraConfig leaves an unset one.
  json modules = json::array(), parameters = json::array();
  for (const auto& t : lora.targets)
    if (expert_target(t)) parameters.push_back(kExpertTargetPrefix + t);
    else modules.push_back(t);
  if (modules.empty()) modules = nullptr;
  if (parameters.empty()) parameters = nullptr;
  // peft writes integral alphas as integers; and a float dropout as the decimal it was given
  // (0.05, not the f32 value 0.05000000074505806).
  json alpha = lora.alpha == std::floor(lora.alpha) ? json(int64_t(lora.alpha)) : json(lora.alpha);
  double dropout = std::stod(fmt::format("{}", lora.dropout));
  json base = adapter.base_model.empty() ? json(nullptr) : json(adapter.base_model);
  return {{"alora_invocation_tokens", nullptr},
          {"alpha_pattern", json::object()},
          {"arrow_config", nullptr},
          {"auto_mapping", nullptr},
          {"base_model_name_or_path", base},
          {"bias", "none"},
          {"corda_config", nullptr},
          {"ensure_weight_tying", false},
          {"eva_config", nullptr},
          {"exclude_modules", nullptr},
          {"fan_in_fan_out", false},
          {"inference_mode", true},
          {"init_lora_weights", true},
          {"kasa_config", nullptr},
          {"layer_replication", nullptr},
          {"layers_pattern", nullptr},
          {"layers_to_transform", nullptr},
          {"loftq_config", json::object()},
          {"lora_alpha", alpha},
          {"lora_bias", false},
          {"lora_dropout", dropout},
          {"lora_ga_config", nullptr},
          {"megatron_config", nullptr},
          {"megatron_core", "megatron.core"},
          {"modules_to_save", nullptr},
          {"monteclora_config", nullptr},
          {"peft_type", "LORA"},
          {"peft_version", kPeftVersion},
          {"qalora_group_size", 16},
          {"r", lora.rank},
          {"rank_pattern", json::object()},
          {"revision", nullptr},
          {"target_modules", modules},
          {"target_parameters", parameters},
          {"task_type", "CAUSAL_LM"},
          {"trainable_token_indices", nullptr},
          {"use_bdlora", nullptr},
          {"use_dora", false},
          {"use_qalora", false},
          {"use_rslora", lora.rslora},
          {"velora_config", nullptr}};
}

bool linear_module(const std::string& name) {
  return std::ranges::any_of(kLinearModules, [&](const char* m) { return name == m; });
}

// target_modules as peft matches it: a list of names, each the module's name or a dotted suffix
// of its path ("self_attn.q_proj"); or one string, "all-linear" or a regex over full paths.
// Returns no value for a regex: then the weights say which modules it matched.
std::optional<std::vector<std::string>> listed_targets(const JsonFields& in) {
  std::vector<std::string> targets;
  if (!in.has("target_modules") || in.at("target_modules").is_null()) {
    if (!in.has("target_parameters") || in.at("target_parameters").is_null())
      in.fail_field("target_modules", "is missing, and so is target_parameters: the adapter "
                    "targets nothing");
    return targets;
  }
  const json& value = in.at("target_modules");
  if (value.is_string()) {
    if (value != "all-linear") return std::nullopt;
    for (const char* m : kLinearModules) targets.push_back(m);
    return targets;
  }
  if (!value.is_array()) in.fail_field("target_modules", "is neither a list nor a string");
  for (const json& entry : value) {
    if (!entry.is_string()) in.fail_field("target_modules", "holds a non-string {}", entry.dump());
    std::string name = entry.get<std::string>();
    name = name.substr(name.rfind('.') + 1);  // npos + 1 == 0: the whole name
    if (!linear_module(name))
      in.fail_field("target_modules",
                    "names '{}'; vktrain adapts q_proj, k_proj, v_proj, o_proj, gate_proj, "
                    "up_proj and down_proj",
                    entry.get<std::string>());
    if (std::ranges::find(targets, name) == targets.end()) targets.push_back(name);
  }
  return targets;
}

// target_parameters as PEFT matches it: parameter paths or dotted suffixes of them; vktrain
// adapts a mixture of experts' fused weights, "mlp.experts.gate_up_proj" and
// "mlp.experts.down_proj" (kExpertTargets).
std::vector<std::string> parameter_targets(const JsonFields& in) {
  std::vector<std::string> targets;
  if (!in.has("target_parameters") || in.at("target_parameters").is_null()) return targets;
  const json& value = in.at("target_parameters");
  if (!value.is_array()) in.fail_field("target_parameters", "is not a list");
  for (const json& entry : value) {
    if (!entry.is_string())
      in.fail_field("target_parameters", "holds a non-string {}", entry.dump());
    const std::string name = entry.get<std::string>();
    const char* found = nullptr;
    for (const char* t : kExpertTargets) {
      const std::string path = kExpertTargetPrefix + std::string(t);
      if (name == path || path.ends_with("." + name)) found = t;
    }
    if (!found)
      in.fail_field("target_parameters",
                    "names '{}'; vktrain adapts the experts' mlp.experts.gate_up_proj and "
                    "mlp.experts.down_proj",
                    name);
    if (std::ranges::find(targets, found) == targets.end()) targets.push_back(found);
  }
  return targets;
}

struct WeightName {
  std::string ours;    // "model.layers.0.self_attn.q_proj.lora_A.weight"
  std::string module;  // "q_proj"
  bool is_a = false;   // lora_A [R, in], else lora_B [out, R]
};

// "base_model.model.<ours>" with an optional adapter name ".default" before ".weight".
WeightName parse_weight_name(const std::string& key, const std::string& file) {
  if (!key.starts_with(kWeightPrefix))
    fail("[peft] {}: tensor '{}' does not start with '{}'; not a PEFT adapter of a causal LM",
         file, key, kWeightPrefix);
  WeightName w;
  w.ours = key.substr(kWeightPrefix.size());
  if (w.ours.ends_with(".default.weight"))
    w.ours.replace(w.ours.size() - std::string_view(".default.weight").size(),
                   std::string::npos, ".weight");
  w.is_a = w.ours.ends_with(".lora_A.weight");
  if (!w.is_a && !w.ours.ends_with(".lora_B.weight"))
    fail("[peft] {}: tensor '{}' is neither a lora_A nor a lora_B weight; vktrain reads plain "
         "LoRA adapters",
         file, key);
  std::string path = w.ours.substr(0, w.ours.size() - std::string_view(".lora_A.weight").size());
  w.module = path.substr(path.rfind('.') + 1);
  // A ParamWrapper's weights sit on the experts module ("…mlp.experts.lora_A.weight", nested:
  // "…mlp.experts.base_layer.lora_A.weight"); which parameter each adapts, the config says.
  if (w.module == "experts" || path.ends_with(".experts.base_layer")) w.module = "experts";
  return w;
}

// The LoRA settings of adapter_config.json (targets aside), refusing what is not plain LoRA.
PeftAdapter settings_of(const JsonFields& in) {
  if (auto type = in.need<std::string>("peft_type"); type != "LORA")
    in.fail_field("peft_type", "is '{}'; vktrain reads LoRA adapters only", type);
  for (const auto& [field, feature] : kUnsupported)
    if (in.has(field) && switched_on(in.at(field)))
      in.fail_field(field, "is {}: {} is not supported; vktrain reads plain LoRA adapters",
                    in.at(field).dump(), feature);
  if (auto bias = in.get<std::string>("bias", "none"); bias != "none")
    in.fail_field("bias", "is '{}': training biases is not supported; vktrain reads plain LoRA "
                  "adapters", bias);
  PeftAdapter adapter;
  LoraConfig& lora = adapter.lora;
  lora.rank = in.need<int64_t>("r");
  if (lora.rank <= 0) in.fail_field("r", "is {}; the rank must be positive", lora.rank);
  lora.alpha = in.get<double>("lora_alpha", 8.0);  // peft's default
  lora.dropout = float(in.get<double>("lora_dropout", 0.0));
  lora.rslora = in.get<bool>("use_rslora", false);
  adapter.base_model = in.get<std::string>("base_model_name_or_path", "");
  return adapter;
}

}  // namespace

void write_peft_files(const std::string& dir, const PeftAdapter& adapter, std::string_view dtype) {
  std::optional<GgmlType> type = float_type(dtype);
  if (!type) fail("[peft] {}: cannot write weights as '{}' (F32, BF16 or F16)", dir, dtype);
  if (adapter.lora.rank <= 0 || adapter.lora.targets.empty())
    fail("[peft] {}: the adapter has rank {} and {} target modules; nothing to write", dir,
         adapter.lora.rank, adapter.lora.targets.size());
  if (adapter.weights.size() != adapter.shapes.size())
    fail("[peft] {}: {} weights but {} shapes", dir, adapter.weights.size(), adapter.shapes.size());

  std::vector<std::vector<std::byte>> encoded;
  encoded.reserve(adapter.weights.size());
  std::vector<SafetensorsTensor> tensors;
  for (const auto& [name, values] : adapter.weights) {
    auto shape = adapter.shapes.find(name);
    if (shape == adapter.shapes.end()) fail("[peft] {}: weight '{}' has no shape", dir, name);
    if (element_count(shape->second) != values.size())
      fail("[peft] {}: weight '{}' has {} values, its shape needs {}", dir, name, values.size(),
           element_count(shape->second));
    encoded.push_back(quantize(values, *type));
    tensors.push_back({std::string(kWeightPrefix) + name, std::string(dtype), shape->second,
                       encoded.back()});
  }
  write_json_file(dir + "/" + kPeftConfigFile, config_json(adapter), "peft");
  write_safetensors(dir + "/" + kPeftWeightsFile, tensors, {{"format", "pt"}});
}

void write_peft_adapter(const std::string& dir, const PeftAdapter& adapter,
                        std::string_view dtype) {
  AtomicDirectory out(dir, "peft");
  write_peft_files(out.path(), adapter, dtype);
  out.commit();
}

PeftAdapter read_peft_adapter(const std::string& dir) {
  const std::string config_path = dir + "/" + kPeftConfigFile;
  const std::string weights_path = dir + "/" + kPeftWeightsFile;
  const json config = read_json_file(config_path, "peft");
  JsonFields in(config, config_path, "peft");
  PeftAdapter adapter = settings_of(in);
  std::optional<std::vector<std::string>> listed = listed_targets(in);
  const std::vector<std::string> parameters = parameter_targets(in);
  if (!parameters.empty() && adapter.lora.dropout != 0)
    in.fail_field("lora_dropout", "is {} with target_parameters; PEFT's ParamWrapper does not "
                  "work with lora_dropout != 0", adapter.lora.dropout);

  if (!std::filesystem::exists(weights_path) && std::filesystem::exists(dir + "/adapter_model.bin"))
    fail("[peft] {} has adapter_model.bin (a PyTorch pickle) but no {}; save the adapter with "
         "safe_serialization=True",
         dir, kPeftWeightsFile);
  SafetensorsReader file(weights_path);
  if (file.tensors().empty()) fail("[peft] {} holds no tensors", weights_path);
  const int64_t rank = adapter.lora.rank;
  std::set<std::string> adapted;  // the modules that have weights
  for (const auto& [key, entry] : file.tensors()) {
    WeightName w = parse_weight_name(key, weights_path);
    if (w.module == "experts") {
      if (parameters.empty())
        fail("[peft] {}: tensor '{}' adapts the experts' weights, which target_parameters does "
             "not name", weights_path, key);
    } else if (listed ? std::ranges::find(*listed, w.module) == listed->end()
                      : !linear_module(w.module)) {
      fail("[peft] {}: tensor '{}' adapts '{}', which {}", weights_path, key, w.module,
           listed ? "target_modules does not name" : "vktrain cannot adapt");
    }
    std::optional<GgmlType> type = float_type(entry.dtype);
    if (!type)
      fail("[peft] {}: tensor '{}' is {}; adapter weights must be F32, F16 or BF16", weights_path,
           key, entry.dtype);
    // An expert adapter's rank dimension holds r for each of the E experts.
    const int64_t ranks = entry.shape.size() == 2 ? entry.shape[w.is_a ? 0 : 1] : 0;
    if (entry.shape.size() != 2 || ranks <= 0 ||
        (w.module == "experts" ? ranks % rank != 0 : ranks != rank))
      fail("[peft] {}: tensor '{}' has shape [{}]; a {} weight of rank {} is [{}]", weights_path,
           key, fmt::join(entry.shape, ", "), w.is_a ? "lora_A" : "lora_B", rank,
           w.module == "experts" ? (w.is_a ? "r x experts, in" : "out, r x experts")
                                 : (w.is_a ? "r, in" : "out, r"));
    if (adapter.weights.count(w.ours))
      fail("[peft] {}: '{}' appears twice (with and without '.default')", weights_path, w.ours);
    adapter.weights[w.ours] = dequantize(file.data(key), *type, element_count(entry.shape));
    adapter.shapes[w.ours] = entry.shape;
    adapted.insert(w.module);
  }
  for (const auto& [name, shape] : adapter.shapes) {
    const bool is_a = name.ends_with(".lora_A.weight");
    std::string partner = name.substr(0, name.size() - 8) + (is_a ? "B.weight" : "A.weight");
    if (!adapter.shapes.count(partner))
      fail("[peft] {}: '{}' has no partner '{}'", weights_path, name, partner);
  }
  if (listed) {
    for (const auto& target : *listed)
      if (!adapted.count(target))
        fail("[peft] {}: target_modules names '{}' but {} has no weights for it", config_path,
             target, kPeftWeightsFile);
    adapter.lora.targets = *listed;
  } else {
    for (const char* m : kLinearModules)
      if (adapted.count(m)) adapter.lora.targets.push_back(m);
  }
  if (!parameters.empty() && !adapted.count("experts"))
    fail("[peft] {}: target_parameters names the experts' weights but {} has no weights for them",
         config_path, kPeftWeightsFile);
  // Which expert weight each experts tensor adapts is for the model to check
  // (model::check_adapter_fits against model::lora_parameters).
  adapter.lora.targets.insert(adapter.lora.targets.end(), parameters.begin(), parameters.end());
  return adapter;
}

}  // namespace vktrain::io
