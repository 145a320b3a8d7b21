#include "model/tiny_models.hpp"

#include <fmt/format.h>

#include <random>

#include "arch/tensor_names.hpp"
#include "io/gguf_export.hpp"
#include "io/quant.hpp"
#include "model/expert_tensors.hpp"
#include "support/support.hpp"

namespace vktrain::test {

io::ModelConfig tiny_config(const std::string& family) {
  // V 97, C 48, F 80, L 2, Hq 4, Hkv 2, D 16.
  std::string common = R"("vocab_size": 97, "hidden_size": 48, "intermediate_size": 80,
      "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
      "head_dim": 16, "max_position_embeddings": 64, "rms_norm_eps": 1e-6)";
  std::string json;
  if (family == "llama")
    json = R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama", )" + common +
           R"(, "tie_word_embeddings": false, "rope_parameters": {"rope_type": "llama3",
           "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
           "high_freq_factor": 4.0, "original_max_position_embeddings": 8}})";
  else if (family == "mistral")
    json = R"({"architectures": ["MistralForCausalLM"], "model_type": "mistral", )" + common +
           R"(, "sliding_window": 4, "rope_theta": 10000.0, "tie_word_embeddings": false})";
  else if (family == "qwen2")
    json = R"({"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", )" + common +
           R"(, "rope_theta": 1000000.0, "tie_word_embeddings": false})";
  else if (family == "qwen3")
    json = R"({"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", )" + common +
           R"(, "rope_theta": 1000000.0, "tie_word_embeddings": true})";
  else if (family == "qwen3_moe")
    json = R"({"architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", )" + common +
           R"(, "rope_theta": 1000000.0, "tie_word_embeddings": false, "num_experts": 5,
           "num_experts_per_tok": 2, "moe_intermediate_size": 24, "norm_topk_prob": true,
           "mlp_only_layers": [1]})";
  else if (family == "gpt_oss")
    json = R"({"architectures": ["GptOssForCausalLM"], "model_type": "gpt_oss", )" + common +
           R"(, "tie_word_embeddings": false, "sliding_window": 4,
           "layer_types": ["sliding_attention", "full_attention"], "num_local_experts": 5,
           "num_experts_per_tok": 2, "swiglu_limit": 1.0, "output_router_logits": true,
           "router_aux_loss_coef": 0.1, "rope_parameters": {"rope_type": "yarn",
           "rope_theta": 150000.0, "factor": 4.0, "beta_fast": 32.0, "beta_slow": 1.0,
           "truncate": false, "original_max_position_embeddings": 16}})";
  else
    json = R"({"architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text", )" + common +
           R"(, "hidden_activation": "gelu_pytorch_tanh", "query_pre_attn_scalar": 20,
           "sliding_window": 5, "layer_types": ["sliding_attention", "full_attention"],
           "rope_parameters": {"full_attention": {"rope_type": "default", "rope_theta": 1000000.0},
           "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}},
           "tie_word_embeddings": true})";
  return io::parse_model_config(json, "tiny " + family);
}

io::ModelConfig tiny_block_config(const std::string& family) {
  io::ModelConfig config = tiny_config(family);
  config.hidden_size = 256;
  config.intermediate_size = 256;
  config.head_dim = 64;  // Hq 4 x D 64 = o_proj's 256 in-features
  return config;
}

io::ModelConfig tiny_moe_block_config() {
  io::ModelConfig config = tiny_block_config("qwen3_moe");
  config.moe.intermediate_size = 256;
  config.moe.dense_layers.clear();
  return config;
}

namespace {

// MXFP4 blocks for `n` values (io encodes no MXFP4: gpt-oss's files come so): random codes under
// E8M0 scales 2^-7 .. 2^-4, values within +-0.375 as a trained expert's are.
std::vector<std::byte> mxfp4_blocks(size_t n, uint32_t seed) {
  std::vector<std::byte> bytes = random_bytes(n / 32 * 17, seed);
  for (size_t block = 0; block < n / 32; ++block)
    bytes[block * 17] = std::byte(uint8_t(120 + block % 4));
  return bytes;
}

}  // namespace

std::map<std::string, std::vector<float>> write_moe_gguf(const io::ModelConfig& config,
                                                         io::GgmlType experts, uint32_t seed,
                                                         const std::string& path) {
  auto weights = random_weights(model::base_parameters(config), seed);
  io::GgufModelFile file = io::gguf_model_file(config, io::GgmlType::q8_0);
  for (const auto& spec : model::base_parameters(config)) {
    const bool router = spec.name.ends_with(arch::hf::kRouter);
    // add_hf_weight writes Q8_0 at most: the experts' blocks are encoded here (their rows need
    // no reordering).
    auto add = [&](const std::string& name, const std::vector<int64_t>& shape,
                   const std::vector<float>& values) {
      io::add_hf_weight(file, config, name, shape, values,
                        router ? io::GgmlType::f32 : io::GgmlType::q8_0);
      if (!model::is_expert_matrix(spec.name)) return;
      file.tensors.back().type = experts;
      file.tensors.back().encoded = experts == io::GgmlType::mxfp4
                                        ? mxfp4_blocks(values.size(), seed++)
                                        : io::quantize(values, experts);
    };
    if (const auto halves = model::gate_up_halves(spec)) {
      auto [gate, up] = model::split_gate_up(weights.at(spec.name), spec.shape[0]);
      add(halves->gate, halves->shape, gate);
      add(halves->up, halves->shape, up);
    } else {
      add(spec.name, spec.shape, weights.at(spec.name));
    }
  }
  file.write(path);
  return weights;
}

model::ModelSetup tiny_lora_setup() {
  model::ModelSetup setup;
  setup.lora.rank = 3;
  setup.lora.alpha = 6;
  setup.lora.targets = model::parse_lora_targets("all-linear");
  return setup;
}

std::vector<model::ParameterSpec> all_parameters(const io::ModelConfig& config,
                                                 const model::LoraConfig& lora) {
  auto specs = model::base_parameters(config);
  for (auto& spec : model::lora_parameters(config, lora)) specs.push_back(std::move(spec));
  return specs;
}

std::map<std::string, std::vector<float>> random_weights(
    const std::vector<model::ParameterSpec>& specs, uint32_t seed) {
  std::map<std::string, std::vector<float>> weights;
  for (const auto& spec : specs) {
    size_t n = size_t(spec.elements());
    // Matrices at 1/sqrt(fan-in) keep activations of order one through two layers.
    float scale = spec.matrix() ? 1.0f / std::sqrt(float(spec.shape.back())) : 0.3f;
    std::vector<float> values = random_values(n, seed++, DType::f32, scale);
    if (spec.name.ends_with("norm.weight"))
      for (float& v : values) v += 1.0f;
    weights[spec.name] = std::move(values);
  }
  return weights;
}

std::unique_ptr<model::Transformer> random_model(const io::ModelConfig& config,
                                                 const model::ModelSetup& setup, uint32_t seed) {
  auto m = std::make_unique<model::Transformer>(context(), config, setup);
  auto weights = random_weights(all_parameters(config, setup.lora), seed);
  for (const auto& p : m->parameters().all())
    m->parameters().write(p.spec.name, weights.at(p.spec.name));
  return m;
}

data::HostBatch tiny_batch(const io::ModelConfig& config, uint32_t seed) {
  data::HostBatch b;
  b.batch = 2;
  b.time = 11;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> token(0, int32_t(config.vocab_size) - 1);
  const int64_t n = b.batch * b.time;
  b.ids.resize(size_t(n));
  for (auto& id : b.ids) id = token(rng);
  b.targets.assign(size_t(n), -100);
  b.positions.assign(size_t(n), 0);
  b.documents.assign(size_t(n), 0);
  // Row 0: one document; targets are the next ids, two of them ignored.
  for (int64_t t = 0; t < b.time; ++t) {
    b.positions[size_t(t)] = int32_t(t);
    if (t + 1 < b.time) b.targets[size_t(t)] = b.ids[size_t(t + 1)];
  }
  b.targets[2] = -100;
  b.targets[6] = -100;
  // Row 1: documents of 6 and 5 tokens.
  for (int64_t t = 0; t < b.time; ++t) {
    size_t i = size_t(b.time + t);
    int64_t doc = t < 6 ? 0 : 1, start = doc ? 6 : 0, end = doc ? b.time : 6;
    b.positions[i] = int32_t(t - start);
    b.documents[i] = int32_t(doc);
    if (t + 1 < end) b.targets[i] = b.ids[i + 1];
  }
  return b;
}

}  // namespace vktrain::test
