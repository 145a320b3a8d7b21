// gpt-oss (GptOssForCausalLM): layers alternating a sliding window of 128 and full attention
// (layer_types), q/k/v/o biases, a learned sink logit per query head that joins each softmax, one
// YaRN RoPE (factor 32 over an original context of 4096) for every layer, and a
// mixture-of-experts block in every layer: a router with a bias, the top k of its logits and a
// softmax over those k, experts with biases and a clamped SwiGLU ((clamp(up, ±limit) + 1) *
// g * sigmoid(alpha g), g = min(gate, limit)).
//
// transformers 5.17's tensors (modeling_gpt_oss.py), per layer after "model.layers.N.":
//   self_attn.{q,k,v,o}_proj.weight / .bias   as llama's, each with a bias
//   self_attn.sinks                           [Hq]
//   mlp.router.weight [E, C], mlp.router.bias [E]
//   mlp.experts.gate_up_proj      [E, C, 2F]  x @ W: gate the even columns, up the odd ones
//   mlp.experts.gate_up_proj_bias [E, 2F]     interleaved alike
//   mlp.experts.down_proj         [E, F, C]
//   mlp.experts.down_proj_bias    [E, C]
// The device keeps transformers' names with the fused layout of the other MoE families
// (gate_up [E, 2F, C], gate rows first; down [E, C, F]; the gate_up bias gate columns first):
// model/expert_tensors.hpp transposes and de-interleaves on load and back on save.
// llama.cpp (conversion/gpt_oss.py) splits gate_up into ffn_gate_exps / ffn_up_exps [E, F, C]
// (transposed, de-interleaved) and their biases, transposes down to [E, C, F], and calls the
// norm after attention post_attention_norm. The hub's checkpoints keep gate_up_proj and down_proj
// in MXFP4 (…_blocks [E, 2F, C/32, 16] / …_scales [E, 2F, C/32], and [E, C, F/32, ...]: the
// rows of the device's layout, gate and up alternating), which the loader decodes to the run's
// dtype (model/loader.cpp, io/quant_hub_mxfp4.hpp).
#include "arch/tensor_names.hpp"

namespace vktrain::arch {
namespace {

constexpr std::string_view kModelTypes[] = {"gpt_oss"};

constexpr TensorNamePair kGptOssLayer[] = {
    {"attn_output.bias", "self_attn.o_proj.bias"},
    {"attn_sinks.weight", hf::kSinks},
    {"post_attention_norm.weight", hf::kPostAttentionNorm},
    {"ffn_gate_inp.weight", hf::kRouterOwn},
    {"ffn_gate_inp.bias", hf::kRouterBias},
    {"ffn_gate_exps.weight", hf::kExpertsGate},
    {"ffn_up_exps.weight", hf::kExpertsUp},
    {"ffn_down_exps.weight", hf::kExpertsDown},
    {"ffn_gate_exps.bias", hf::kExpertsGateBias},
    {"ffn_up_exps.bias", hf::kExpertsUpBias},
    {"ffn_down_exps.bias", hf::kExpertsDownBias},
};
constexpr TensorNameGroup kLayerTensors[] = {kAttentionAndMlp, kQkvBias, kGptOssLayer};

// transformers 5.17's GptOssConfig defaults (gpt-oss-120b's shape), for checkpoints that leave
// fields out. The experts per token default under OpenAI's own key, experts_per_token, so that
// a file's num_experts_per_tok (transformers') or experts_per_token wins.
constexpr std::string_view kConfigDefaults = R"({
  "vocab_size": 201088, "hidden_size": 2880, "intermediate_size": 2880, "head_dim": 64,
  "num_hidden_layers": 36, "num_attention_heads": 64, "num_key_value_heads": 8,
  "sliding_window": 128, "tie_word_embeddings": false, "hidden_act": "silu",
  "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "rope_theta": 150000.0,
  "rope_parameters": {"rope_type": "yarn", "factor": 32.0, "beta_fast": 32.0, "beta_slow": 1.0,
                      "truncate": false, "original_max_position_embeddings": 4096},
  "num_local_experts": 128, "experts_per_token": 4, "swiglu_alpha": 1.702,
  "swiglu_limit": 7.0, "router_aux_loss_coef": 0.001, "output_router_logits": false,
  "attention_bias": true})";

constexpr MoeNames kExperts = {
    .expert_size_key = "",
    .sparse_layer_keys = false,
    .experts_key = "num_local_experts",
    .router = hf::kRouterOwn,
    .clamped_swiglu = true,
    .device_router = hf::kRouterOwn,
    .router_bias = hf::kRouterBias,
    .softmax_after_topk = true,
    .expert_biases = true,
    .interleaved_gate_up = true,
};

// gpt-oss-20b and gpt-oss-120b (their config.json: 24 and 36 layers of 32 and 128 experts, 4 per
// token, router_aux_loss_coef 0.9), and a tiny one of 8 experts of F 64, 2 per token, window
// 128. A softmax over the top k sums to 1: renormalising it, as every family without
// norm_topk_prob reads, changes nothing.
constexpr Preset kPresets[] = {
    {"20b", 201088, 2880, 2880, 24, 64, 8, 64, 131072, false, 32, 128, {32, 4, 2880, true, 0.9}},
    {"120b", 201088, 2880, 2880, 36, 64, 8, 64, 131072, false, 32, 128, {128, 4, 2880, true, 0.9}},
    {"tiny", 32000, 128, 64, 4, 4, 2, 32, 2048, true, 0, 128, {8, 2, 64, true}},
};

}  // namespace

extern const FamilyDescription kGptOss;
const FamilyDescription kGptOss = {
    .family = Family::gpt_oss,
    .name = "gpt_oss",
    .model_types = kModelTypes,
    .written_model_type = "gpt_oss",
    .architecture = "GptOssForCausalLM",
    .config_defaults = kConfigDefaults,
    .attention_bias = true,
    .mixture_of_experts = true,
    .experts = kExperts,
    .attention_sinks = true,
    .output_bias = true,
    .window = SlidingWindow::pattern,
    .sliding_period = 2,
    .layer_tensors = kLayerTensors,
    .gguf_architecture = "gpt-oss",
    .gguf_pre_tokenizer = "gpt-4o",
    .presets = kPresets,
    // yarn over an original context of 4096, not truncated; no bos; eos <|return|>
    .published = {.rms_norm_eps = 1e-5, .rope_theta = 150000, .rope_scaling = "yarn",
                  .rope_original_context = 4096, .rope_truncate = false, .swiglu_limit = 7.0,
                  .eos_token_id = 200002},
};

}  // namespace vktrain::arch
