#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "io/model_config.hpp"
#include "support/config_fields.hpp"
#include "support/support.hpp"

using namespace vktrain;
using io::Family;

namespace {

std::string fixture(const std::string& name) {
  return std::string(VKTRAIN_FIXTURES) + "/configs/" + name;
}

io::ModelConfig load(const std::string& name) { return io::read_model_config(fixture(name)); }

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

std::string parse_error(const std::string& text) {
  return test::error_message([&] { io::parse_model_config(text, "my/config.json"); });
}

// The error of `base` with `key` set to `value`.
std::string error_with(nlohmann::json base, const char* key, const nlohmann::json& value) {
  base[key] = value;
  return parse_error(base.dump());
}

void expect_config_error(const std::string& message, const std::string& needle) {
  EXPECT_NE(message.find("[config] my/config.json: " + needle), std::string::npos) << message;
}

}  // namespace

TEST(ModelConfig, Qwen3) {
  auto c = load("qwen3-0.6b.json");
  EXPECT_EQ(c.family, Family::qwen3);
  EXPECT_EQ(c.hidden_size, 1024);
  EXPECT_EQ(c.head_dim, 128);  // explicit, not hidden / heads (64)
  EXPECT_EQ(c.num_kv_heads, 8);
  EXPECT_TRUE(c.qk_norm);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.rope_theta, 1e6);
  EXPECT_FALSE(c.sliding_window.has_value());  // use_sliding_window false
  EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{151645});
}

TEST(ModelConfig, Llama3RopeScaling) {
  for (auto name : {"llama-3.2-1b.json", "v5/llama3.json"}) {
    SCOPED_TRACE(name);
    auto c = load(name);
    EXPECT_EQ(c.family, Family::llama);
    EXPECT_EQ(c.rope_theta, 500000.0);
    EXPECT_EQ(c.rope_scaling.type, "llama3");
    EXPECT_EQ(c.rope_scaling.factor, 32.0);
    EXPECT_EQ(c.rope_scaling.low_freq_factor, 1.0);
    EXPECT_EQ(c.rope_scaling.high_freq_factor, 4.0);
    EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 8192);
    EXPECT_FALSE(c.qk_norm);
    EXPECT_FALSE(c.norm_plus_one);
  }
  EXPECT_EQ(load("llama-3.2-1b.json").head_dim, 64);
}

TEST(ModelConfig, Qwen2HasBiasesAndNoWindowUnlessAskedFor) {
  for (auto name : {"qwen2.5-0.5b.json", "v5/qwen2.json"}) {
    SCOPED_TRACE(name);
    auto c = load(name);
    EXPECT_EQ(c.family, Family::qwen2);
    EXPECT_TRUE(c.attention_bias);
    EXPECT_FALSE(c.sliding_window.has_value());
    for (bool sliding : c.sliding_layers) EXPECT_FALSE(sliding);
  }
  auto c = load("qwen2.5-0.5b.json");
  EXPECT_EQ(c.head_dim, 64);  // 896 / 14
  EXPECT_EQ(c.num_kv_heads, 2);
}

TEST(ModelConfig, MistralSlidingWindowOnEveryLayer) {
  auto c = load("mistral-7b-v0.1.json");
  EXPECT_EQ(c.family, Family::mistral);
  EXPECT_EQ(c.sliding_window, 4096);
  EXPECT_EQ(c.sliding_layers, std::vector<bool>(32, true));
  EXPECT_FALSE(c.tie_word_embeddings);
}

TEST(ModelConfig, Gemma3Text) {
  auto c = load("gemma-3-1b-it.json");
  EXPECT_EQ(c.family, Family::gemma3);
  EXPECT_EQ(c.activation, "gelu_pytorch_tanh");
  EXPECT_TRUE(c.norm_plus_one && c.sandwich_norms && c.embed_scale && c.qk_norm);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.sliding_window, 512);
  EXPECT_EQ(c.rope_theta, 1e6);
  EXPECT_EQ(c.rope_local_theta, 1e4);
  EXPECT_DOUBLE_EQ(c.attention_scale(), 1.0 / 16.0);  // query_pre_attn_scalar 256
  ASSERT_EQ(c.sliding_layers.size(), 26u);
  for (size_t i = 0; i < 26; ++i) EXPECT_EQ(c.sliding_layers[i], (i + 1) % 6 != 0) << i;
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{1, 106}));
  EXPECT_EQ(c.weight_prefixes, std::vector<std::string>{"model."});
}

TEST(ModelConfig, Gemma3MultimodalTextPartWithDefaults) {
  auto c = load("gemma-3-4b-it.json");
  EXPECT_EQ(c.family, Family::gemma3);
  EXPECT_EQ(c.hidden_size, 2560);
  EXPECT_EQ(c.num_layers, 34);
  EXPECT_EQ(c.num_heads, 8);      // Gemma3TextConfig defaults
  EXPECT_EQ(c.num_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 256);
  EXPECT_EQ(c.vocab_size, 262208);
  EXPECT_EQ(c.rope_scaling.type, "linear");
  EXPECT_EQ(c.rope_scaling.factor, 8.0);
  EXPECT_EQ(c.sliding_window, 1024);
  EXPECT_EQ(c.weight_prefixes.front(), "language_model.model.");
}

TEST(ModelConfig, TransformersV5LayerTypesAndPerTypeRope) {
  auto c = load("v5/gemma3_text.json");
  EXPECT_EQ(c.rope_theta, 1e6);
  EXPECT_EQ(c.rope_local_theta, 1e4);
  EXPECT_EQ(c.sliding_layers, (std::vector<bool>{true, true, true, true, true, false, true}));
  EXPECT_EQ(c.sliding_window, 16);
  auto q = load("v5/qwen3.json");
  EXPECT_EQ(q.head_dim, 64);
  EXPECT_EQ(q.rope_theta, 10000.0);
  auto m = load("v5/gemma3.json");
  EXPECT_EQ(m.family, Family::gemma3);
  EXPECT_EQ(m.num_layers, 26);
}

TEST(ModelConfig, ErrorsNameTheFileAndTheField) {
  EXPECT_EQ(parse_error("{\"model_type\": \"falcon\", \"architectures\": [\"FalconForCausalLM\"]}"),
            "[config] my/config.json: unsupported architecture 'FalconForCausalLM' (model_type "
            "'falcon'); vktrain supports llama, mistral, qwen2, qwen3, gemma3, qwen3_moe, mixtral "
            "and gpt_oss");
  EXPECT_EQ(parse_error("{\"model_type\": \"llama\", \"vocab_size\": 10, \"hidden_size\": 64}"),
            "[config] my/config.json: missing field 'intermediate_size'");
  EXPECT_NE(parse_error("{\"model_type\": \"llama\", \"vocab_size\": 10, \"hidden_size\": \"big\"}").find(
                "field 'hidden_size' has the wrong type"),
            std::string::npos);
  EXPECT_NE(parse_error("{nope").find("not valid JSON"), std::string::npos);
  EXPECT_NE(parse_error(R"({"model_type": "qwen3", "hidden_size": 64, "intermediate_size": 128,
      "num_hidden_layers": 2, "num_attention_heads": 6, "num_key_value_heads": 4, "vocab_size": 10})")
                .find("not a multiple"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
      "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 10,
      "rope_scaling": {"rope_type": "dynamic", "factor": 4}})")
                .find("rope scaling type 'dynamic' is not supported"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
      "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 10,
      "rope_scaling": {"rope_type": "yarn", "factor": 4}})")
                .find("missing field 'original_max_position_embeddings' (yarn rope scaling)"),
            std::string::npos);
  EXPECT_NE(test::error_message([] { io::read_model_config("/nonexistent/config.json"); })
                .find("cannot open /nonexistent/config.json"),
            std::string::npos);
}

// Found by hand with hostile config.json files (issue 14): each once crashed, hung, allocated
// gigabytes or ended as "internal error"; now one line names the file and the field.
TEST(ModelConfig, DeepNestingIsRefusedBeforeParsing) {
  // A real config with one field nested 100k deep: copying the document recursed once per level.
  std::string deep = read_text(fixture("qwen3-0.6b.json"));
  deep.insert(1, "\"a\": " + std::string(100000, '[') + std::string(100000, ']') + ", ");
  auto message = parse_error(deep);
  EXPECT_NE(message.find("[config] my/config.json: JSON nested deeper than 256"), std::string::npos)
      << message;
  // Brackets inside strings are text, not nesting.
  auto text = nlohmann::json::parse(read_text(fixture("qwen3-0.6b.json")));
  text["note"] = std::string(1000, '[');
  EXPECT_EQ(io::parse_model_config(text.dump(), "my/config.json").hidden_size, 1024);
}

TEST(ModelConfig, EveryFieldIsRangeCheckedNamingIt) {
  const auto qwen = nlohmann::json::parse(read_text(fixture("qwen3-0.6b.json")));
  const auto gemma = nlohmann::json::parse(read_text(fixture("gemma-3-1b-it.json")));
  const auto with = error_with;
  const auto expect = expect_config_error;
  // Was an 11 GB allocation before failing.
  expect(with(qwen, "num_hidden_layers", 1000000000),
         "field 'num_hidden_layers' = 1000000000 is out of range (1..1024)");
  // Was SIGFPE: layer i is local when (i + 1) % pattern != 0.
  expect(with(gemma, "sliding_window_pattern", 0),
         "field 'sliding_window_pattern' = 0 is out of range (1..1024)");
  expect(with(qwen, "hidden_size", -5), "field 'hidden_size' = -5 is out of range (1..65536)");
  expect(with(qwen, "vocab_size", 1e30), "field 'vocab_size' has the wrong type (1e+30)");
  expect(with(qwen, "vocab_size", 18446744073709551615ull),
         "field 'vocab_size' = 18446744073709551615 is out of range (1..4194304)");
  expect(with(qwen, "intermediate_size", 2.5), "field 'intermediate_size' has the wrong type (2.5)");
  expect(with(qwen, "num_key_value_heads", 32), "field 'num_key_value_heads' = 32 is out of range (1..16)");
  expect(with(qwen, "head_dim", 3), "head dimension 3");
  expect(with(qwen, "rms_norm_eps", 0), "field 'rms_norm_eps' = 0 is out of range");
  expect(with(qwen, "rope_theta", -1.0), "field 'rope_theta' = -1.0 is out of range");
  expect(with(qwen, "max_position_embeddings", -1), "field 'max_position_embeddings' = -1");
  expect(with(qwen, "eos_token_id", 151936), "field 'eos_token_id' = 151936 is out of range (0..151935)");
  expect(with(qwen, "bos_token_id", nlohmann::json::array({1, -2})), "field 'bos_token_id' = -2");
  expect(with(gemma, "sliding_window", 0), "field 'sliding_window' = 0 is out of range");
  expect(with(qwen, "layer_types", nlohmann::json::array({1})), "field 'layer_types' has the wrong type");
  // Was "internal error": type must be string, but is number.
  expect(with(qwen, "architectures", nlohmann::json::array({1})),
         "field 'architectures' must list class names, not 1");
  expect(with(gemma, "model_type", "gemma3"), "model_type 'gemma3' without an object 'text_config'");
  auto llama = nlohmann::json::parse(read_text(fixture("llama-3.2-1b.json")));
  llama["rope_scaling"]["high_freq_factor"] = 1.0;  // the smoothing would divide by zero
  expect(parse_error(llama.dump()), "rope scaling high_freq_factor 1 must be above low_freq_factor 1");
  // Each size in range, the product not: no allocation may be sized by it.
  auto huge = qwen;
  huge["hidden_size"] = 65536;
  huge["intermediate_size"] = 262144;
  huge["num_hidden_layers"] = 1024;
  expect(parse_error(huge.dump()), "the sizes give");
}

namespace {

// A small qwen3_moe config.json: layer 1 sparse (step 2), layer 3 dense by mlp_only_layers.
nlohmann::json qwen3_moe_json() {
  return nlohmann::json::parse(R"({"architectures": ["Qwen3MoeForCausalLM"],
      "model_type": "qwen3_moe", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 96,
      "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
      "num_experts": 8, "num_experts_per_tok": 2, "moe_intermediate_size": 32,
      "norm_topk_prob": true, "decoder_sparse_step": 2, "mlp_only_layers": [3],
      "output_router_logits": true, "router_aux_loss_coef": 0.01})");
}

}  // namespace

TEST(ModelConfig, Qwen3MoeReadsItsExpertsAndTheConfigClassDefaults) {
  auto c = io::parse_model_config(qwen3_moe_json().dump(), "moe/config.json");
  EXPECT_EQ(c.family, Family::qwen3_moe);
  EXPECT_TRUE(c.qk_norm);
  EXPECT_EQ(c.moe.experts, 8);
  EXPECT_EQ(c.moe.experts_per_token, 2);
  EXPECT_EQ(c.moe.intermediate_size, 32);
  EXPECT_TRUE(c.moe.normalize_topk);
  EXPECT_TRUE(c.moe.aux_loss);
  EXPECT_EQ(c.moe.aux_loss_coef, 0.01);
  // transformers: sparse where (l + 1) % decoder_sparse_step == 0 and l not in mlp_only_layers.
  EXPECT_EQ((std::vector<bool>{c.moe_layer(0), c.moe_layer(1), c.moe_layer(2), c.moe_layer(3)}),
            (std::vector<bool>{false, true, false, false}));
  // Qwen3MoeConfig's defaults fill what a config leaves out.
  auto d = io::parse_model_config(R"({"model_type": "qwen3_moe"})", "moe/config.json");
  EXPECT_EQ(d.moe.experts, 128);
  EXPECT_EQ(d.moe.experts_per_token, 8);
  EXPECT_EQ(d.moe.intermediate_size, 768);
  EXPECT_FALSE(d.moe.normalize_topk);
  EXPECT_FALSE(d.moe.aux_loss);
  EXPECT_EQ(d.moe.aux_loss_coef, 0.001);
  EXPECT_EQ(d.num_layers, 24);
  EXPECT_TRUE(d.moe_layer(0));
  // transformers 5 saves the count as num_local_experts; the default must not override it.
  auto renamed = qwen3_moe_json();
  renamed.erase("num_experts");
  renamed["num_local_experts"] = 6;
  EXPECT_EQ(io::parse_model_config(renamed.dump(), "moe/config.json").moe.experts, 6);
}

TEST(ModelConfig, Qwen3MoeHostileExpertFieldsAreOneErrorNamingTheField) {
  auto with = [](const char* key, const nlohmann::json& value) {
    return error_with(qwen3_moe_json(), key, value);
  };
  const auto expect = expect_config_error;
  expect(with("num_experts", 0), "field 'num_experts' = 0 is out of range (1..4096)");
  expect(with("num_experts", 1 << 20), "field 'num_experts' = 1048576 is out of range (1..4096)");
  expect(with("num_experts_per_tok", 9), "field 'num_experts_per_tok' = 9 is out of range (1..8)");
  expect(with("num_experts_per_tok", 0), "field 'num_experts_per_tok' = 0 is out of range (1..8)");
  expect(with("moe_intermediate_size", -1), "field 'moe_intermediate_size' = -1 is out of range");
  // transformers would divide by it: (l + 1) % decoder_sparse_step.
  expect(with("decoder_sparse_step", 0), "field 'decoder_sparse_step' = 0 is out of range (1..1024)");
  expect(with("mlp_only_layers", nlohmann::json::array({4})),
         "field 'mlp_only_layers' = 4 is out of range (0..3)");
  expect(with("mlp_only_layers", "all"), "field 'mlp_only_layers' has the wrong type");
  expect(with("mlp_only_layers", nlohmann::json::array({0, 1, 2, 3, 0})),
         "field 'mlp_only_layers' lists 5 layers of 4");
  expect(with("router_aux_loss_coef", -1.0), "field 'router_aux_loss_coef' = -1.0 is out of range");
  expect(with("norm_topk_prob", "yes"), "field 'norm_topk_prob' has the wrong type");
  // Every size in range, the experts' product not.
  auto huge = qwen3_moe_json();
  huge["hidden_size"] = 65536;
  huge["moe_intermediate_size"] = 262144;
  huge["num_experts"] = 4096;
  huge["num_experts_per_tok"] = 1;
  huge["decoder_sparse_step"] = 1;
  expect(parse_error(huge.dump()), "the sizes give");
}

namespace {

// A small mixtral config.json as transformers 5 writes one: 4 experts of the model's
// intermediate_size, a sliding window.
nlohmann::json mixtral_json() {
  return nlohmann::json::parse(R"({"architectures": ["MixtralForCausalLM"],
      "model_type": "mixtral", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 32,
      "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
      "num_local_experts": 4, "num_experts_per_tok": 2, "output_router_logits": true,
      "router_aux_loss_coef": 0.1, "router_jitter_noise": 0.0, "sliding_window": 6,
      "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0}})");
}

}  // namespace

TEST(ModelConfig, MixtralReadsItsExpertsAndTheConfigClassDefaults) {
  auto c = io::parse_model_config(mixtral_json().dump(), "mixtral/config.json");
  EXPECT_EQ(c.family, Family::mixtral);
  EXPECT_FALSE(c.qk_norm);
  EXPECT_EQ(c.moe.experts, 4);
  EXPECT_EQ(c.moe.experts_per_token, 2);
  EXPECT_EQ(c.moe.intermediate_size, 32);  // the model's intermediate_size
  EXPECT_TRUE(c.moe.normalize_topk);       // MixtralTopKRouter always renormalises
  EXPECT_TRUE(c.moe.aux_loss);
  EXPECT_EQ(c.moe.aux_loss_coef, 0.1);
  EXPECT_TRUE(c.moe_layer(0) && c.moe_layer(1));
  EXPECT_EQ(c.sliding_window, 6);
  EXPECT_EQ(c.sliding_layers, (std::vector<bool>{true, true}));
  // Qwen3-MoE's keys mean nothing to transformers' Mixtral, so nothing here either.
  auto qwen_keys = mixtral_json();
  qwen_keys["norm_topk_prob"] = false;
  qwen_keys["mlp_only_layers"] = nlohmann::json::array({0});
  qwen_keys["moe_intermediate_size"] = 8;
  auto q = io::parse_model_config(qwen_keys.dump(), "mixtral/config.json");
  EXPECT_EQ(test::config_differences(c, q), std::vector<std::string>{});
  // MixtralConfig's defaults (Mixtral-8x7B's shape) fill what a config leaves out.
  auto d = io::parse_model_config(R"({"model_type": "mixtral"})", "mixtral/config.json");
  EXPECT_EQ(d.moe.experts, 8);
  EXPECT_EQ(d.moe.experts_per_token, 2);
  EXPECT_EQ(d.moe.intermediate_size, 14336);
  EXPECT_FALSE(d.moe.aux_loss);
  EXPECT_EQ(d.moe.aux_loss_coef, 0.001);
  EXPECT_EQ(d.rope_theta, 1e6);
  EXPECT_EQ(d.rms_norm_eps, 1e-5);
  EXPECT_FALSE(d.sliding_window.has_value());
}

TEST(ModelConfig, MixtralHostileExpertFieldsAreOneErrorNamingTheField) {
  auto with = [](const char* key, const nlohmann::json& value) {
    return error_with(mixtral_json(), key, value);
  };
  const auto expect = expect_config_error;
  expect(with("num_local_experts", 0), "field 'num_local_experts' = 0 is out of range (1..4096)");
  expect(with("num_local_experts", "8"), "field 'num_local_experts' has the wrong type");
  expect(with("num_experts_per_tok", 5), "field 'num_experts_per_tok' = 5 is out of range (1..4)");
  expect(with("intermediate_size", 0), "field 'intermediate_size' = 0 is out of range");
  expect(with("output_router_logits", 1), "field 'output_router_logits' has the wrong type");
  // Training-time noise on the router's input would make every run differ from transformers'.
  expect(with("router_jitter_noise", 0.01),
         "field 'router_jitter_noise' = 0.01 is not supported; set it to 0");
  expect(with("sliding_window", 0), "field 'sliding_window' = 0 is out of range");
  // Every size in range, the experts' product not.
  auto huge = mixtral_json();
  huge["hidden_size"] = 65536;
  huge["intermediate_size"] = 262144;
  huge["num_local_experts"] = 4096;
  expect(parse_error(huge.dump()), "the sizes give");
}

namespace {

nlohmann::json gpt_oss_20b() {
  std::ifstream in(std::string(VKTRAIN_FIXTURES) + "/configs/gpt-oss-20b.json");
  return nlohmann::json::parse(in);
}

}  // namespace

// gpt-oss-20b's config.json (transformers 4.55: rope_theta and a yarn rope_scaling).
TEST(ModelConfig, GptOssReadsItsLayersRopeAndExperts) {
  auto c = io::parse_model_config(gpt_oss_20b().dump(), "gpt-oss/config.json");
  EXPECT_EQ(c.family, Family::gpt_oss);
  EXPECT_TRUE(c.attention_bias);
  EXPECT_TRUE(c.attention_sinks);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.sliding_window, 128);
  for (int64_t l = 0; l < c.num_layers; ++l) EXPECT_EQ(c.sliding_layers[size_t(l)], l % 2 == 0);
  EXPECT_EQ(c.rope_theta, 150000);
  EXPECT_EQ(c.rope_scaling.type, "yarn");
  EXPECT_EQ(c.rope_scaling.factor, 32);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 4096);
  EXPECT_EQ(c.rope_scaling.beta_fast, 32);
  EXPECT_EQ(c.rope_scaling.beta_slow, 1);
  EXPECT_FALSE(c.rope_scaling.truncate);
  EXPECT_EQ(c.moe.experts, 32);
  EXPECT_EQ(c.moe.experts_per_token, 4);
  EXPECT_EQ(c.moe.intermediate_size, 2880);
  EXPECT_EQ(c.moe.swiglu_limit, 7.0);
  EXPECT_EQ(c.moe.swiglu_alpha, 1.702);
  EXPECT_EQ(c.moe.aux_loss_coef, 0.9);
  EXPECT_FALSE(c.bos_token_id.has_value());
  EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{200002});
  // OpenAI's own key alone says the experts per token.
  auto openai = gpt_oss_20b();
  openai.erase("num_experts_per_tok");
  openai["experts_per_token"] = 2;
  EXPECT_EQ(io::parse_model_config(openai.dump(), "gpt-oss/config.json").moe.experts_per_token, 2);
  // GptOssConfig's defaults: gpt-oss-120b's shape, layers alternating from a sliding one, yarn.
  auto d = io::parse_model_config(R"({"model_type": "gpt_oss"})", "gpt-oss/config.json");
  EXPECT_EQ(d.num_layers, 36);
  EXPECT_EQ(d.moe.experts, 128);
  EXPECT_EQ(d.moe.experts_per_token, 4);
  EXPECT_EQ(d.sliding_layers[0], true);
  EXPECT_EQ(d.sliding_layers[1], false);
  EXPECT_EQ(d.rope_scaling.type, "yarn");
  EXPECT_EQ(d.rope_scaling.factor, 32);
  EXPECT_EQ(d.rope_scaling.original_max_position_embeddings, 4096);
  EXPECT_FALSE(d.rope_scaling.truncate);
  EXPECT_EQ(d.rope_theta, 150000);
  EXPECT_EQ(d.moe.swiglu_limit, 7.0);
  EXPECT_TRUE(d.attention_bias);
}

TEST(ModelConfig, GptOssHostileYarnAndExpertFieldsAreOneErrorNamingTheField) {
  auto with = [](const char* key, const nlohmann::json& value) {
    auto j = gpt_oss_20b();
    j["rope_scaling"][key] = value;
    return parse_error(j.dump());
  };
  const auto expect = expect_config_error;
  expect(with("beta_fast", -1.0), "field 'beta_fast' = -1.0 is out of range");
  expect(with("truncate", "no"), "field 'truncate' has the wrong type");
  expect(with("original_max_position_embeddings", 0),
         "field 'original_max_position_embeddings' = 0 is out of range");
  expect(with("mscale", 1.0), "yarn rope scaling field 'mscale' is not supported");
  expect(with("attention_factor", -2.0), "field 'attention_factor' = -2.0 is out of range");
  auto no_context = gpt_oss_20b();
  no_context["rope_scaling"].erase("original_max_position_embeddings");
  expect(parse_error(no_context.dump()),
         "missing field 'original_max_position_embeddings' (yarn rope scaling)");
  auto limit = gpt_oss_20b();
  limit["swiglu_limit"] = 0;
  expect(parse_error(limit.dump()), "field 'swiglu_limit' = 0 is out of range");
  auto k = gpt_oss_20b();
  k["num_experts_per_tok"] = 33;
  expect(parse_error(k.dump()), "field 'num_experts_per_tok' = 33 is out of range (1..32)");
}
