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
// llama.cpp (conversion/gpt_oss.py) splits gate_up into ffn_gate_exps / ffn_up_exps [E, F, C]
// (transposed, de-interleaved) and their biases, transposes down to [E, C, F], and calls the
// norm after attention post_attention_norm. The hub's checkpoints keep the experts in MXFP4
// (…_blocks / …_scales), which vktrain does not read.
//
// Not supported yet: attention sinks (the attention op has none), so a gpt_oss model is refused
// when its parameters are laid out (model/layout.cpp); config.json, GGUF names and presets are.
#include "arch/tensor_names.hpp"

namespace vktrain::arch {
namespace {

constexpr std::string_view kModelTypes[] = {"gpt_oss"};

constexpr TensorNamePair kGptOssLayer[] = {
    {"attn_output.bias", "self_attn.o_proj.bias"},
    {"attn_sinks.weight", "self_attn.sinks"},
    {"post_attention_norm.weight", hf::kPostAttentionNorm},
    {"ffn_gate_inp.weight", "mlp.router.weight"},
    {"ffn_gate_inp.bias", "mlp.router.bias"},
    {"ffn_gate_exps.weight", hf::kExpertsGate},
    {"ffn_up_exps.weight", hf::kExpertsUp},
    {"ffn_down_exps.weight", hf::kExpertsDown},
    {"ffn_gate_exps.bias", "mlp.experts.gate_proj_bias"},
    {"ffn_up_exps.bias", "mlp.experts.up_proj_bias"},
    {"ffn_down_exps.bias", "mlp.experts.down_proj_bias"},
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
    .clamped_swiglu = true,
};

// gpt-oss-20b and gpt-oss-120b (their config.json: 24 and 36 layers of 32 and 128 experts, 4 per
// token, router_aux_loss_coef 0.9). A softmax over the top k sums to 1: renormalising it, as
// every family without norm_topk_prob reads, changes nothing.
constexpr Preset kPresets[] = {
    {"20b", 201088, 2880, 2880, 24, 64, 8, 64, 131072, false, 32, 128, {32, 4, 2880, true, 0.9}},
    {"120b", 201088, 2880, 2880, 36, 64, 8, 64, 131072, false, 32, 128, {128, 4, 2880, true, 0.9}},
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
