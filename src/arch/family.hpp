#pragma once
// What a model family is (DESIGN.md decision 12): one FamilyDescription per family, each in its
// own file (llama.cpp, mistral.cpp, qwen2.cpp, qwen3.cpp, gemma3.cpp, qwen3_moe.cpp, mixtral.cpp,
// gpt_oss.cpp),
// holding everything the rest of vktrain needs to know about it: its names in config.json,
// transformers and GGUF, its config fields and defaults, the switches of the one Transformer it
// turns on, its tensors' Hugging Face and GGUF names, llama.cpp's conversions of their values,
// its layer pattern and RoPE rules, its built-in chat format, its GGUF pre-tokenizer and its
// presets. io/, model/ and data/ ask the
// description; none of them switches on the family.
//
// Adding a dense family that only recombines what exists (say a "foo" whose layers are llama's
// with q/k norms):
//   1. add `foo` to arch::Family (model_config.hpp);
//   2. copy the nearest family's file to src/arch/foo.cpp and change its values: names
//      (model_types, written_model_type, architecture, gguf_architecture), switches, tensor name
//      groups, window rules, chat format, pre-tokenizer, presets and published values; fields
//      left out keep a plain dense model's defaults;
//   3. list it in family.cpp's kFamilies (in enum order) and, when it has presets, kPresetOrder;
//   4. add its fixtures: tests/fixtures/<family> from scripts/ (the transformers reference), and
//      the family to the tests that loop over families (gguf_names_test, gguf_config_test,
//      model_config_writer_test, the HuggingFace GPU suite).
// A family that needs new behaviour (an op, a norm placement, a tensor transform) adds that
// behaviour where it lives, a switch in ModelConfig or a field here, and then its file.
#include <span>
#include <string>
#include <string_view>

#include "arch/model_config.hpp"

namespace vktrain::arch {

// One tensor's names: after "blk.N." (GGUF) and "model.layers.N." (Hugging Face) for a layer's
// tensors, whole for the model's own (tensor_names.hpp).
struct TensorNamePair {
  std::string_view gguf, hf;
};
using TensorNameGroup = std::span<const TensorNamePair>;

// How the family's config says which layers attend through a sliding window.
enum class SlidingWindow {
  none,         // no layer slides (llama)
  every_layer,  // a sliding_window slides every layer (mistral)
  flagged,      // use_sliding_window and max_window_layers; layer_types when given (qwen2, qwen3)
  pattern,      // a window always; layer_types or a period of `sliding_period` say who uses it
};

// The experts of a mixture-of-experts preset (arch::MoeConfig's fields); experts 0: dense.
struct MoePreset {
  int64_t experts = 0, k = 0, F = 0;
  bool normalize_topk = false;
  double aux_loss_coef = 0.001;  // router_aux_loss_coef
};

// How a mixture-of-experts family's files name its experts (arch::MoeConfig holds the values);
// the defaults are Qwen3-MoE's. The device keeps every family's block in transformers 5's fused
// layout and names (tensor_names.hpp's hf::kRouter, kExpertsGateUp, kExpertsDown).
struct MoeNames {
  // config.json: one expert's F under its own key, or "": the model's intermediate_size; and
  // whether norm_topk_prob, decoder_sparse_step and mlp_only_layers exist (else the k weights
  // are always renormalised and every layer is sparse).
  std::string_view expert_size_key = "moe_intermediate_size";
  bool sparse_layer_keys = true;
  std::string_view experts_key = "num_experts";  // the expert count's key as written
  // The hub's checkpoints, after "model.layers.N.": the router, and expert e's projections after
  // experts_prefix "e.".
  std::string_view router = "mlp.gate.weight";
  std::string_view experts_prefix = "mlp.experts.";
  std::string_view gate = "gate_proj.weight", up = "up_proj.weight", down = "down_proj.weight";
  // GGUF: the key of one expert's F, or "": feed_forward_length (llama.cpp's llama MoE).
  std::string_view gguf_expert_size_key = "expert_feed_forward_length";
  // config.json's swiglu_limit and swiglu_alpha: the experts' clamped SwiGLU (gpt-oss).
  bool clamped_swiglu = false;
  // The router's name on the device: transformers 5's (tensor_names.hpp's hf::kRouter), or
  // gpt-oss's own "mlp.router.weight", which transformers keeps; and its bias ("": none).
  std::string_view device_router = "mlp.gate.weight";
  std::string_view router_bias = "";
  // gpt-oss: the top k logits, then a softmax over those k (ops::MoeRouting::topk_softmax),
  // instead of a softmax over all E then the top k.
  bool softmax_after_topk = false;
  // gpt-oss: biases on the experts (hf::kExpertsGateUpBias [E, 2F], kExpertsDownBias [E, C]),
  // and checkpoints that hold the experts under the device's names as x @ W: gate_up [E, C, 2F]
  // with gate and up interleaved by column (its bias alike), down [E, F, C]
  // (model/expert_tensors.hpp reorders them on load and save).
  bool expert_biases = false;
  bool interleaved_gate_up = false;
};

// A size of the family for `vktrain init` and benchmarks, from the named checkpoint's config.json
// (presets.hpp says which).
struct Preset {
  std::string_view size;  // "0.6B", "tiny"
  int64_t vocab, C, F, L, H, Hkv, D, context;
  bool tied;
  double rope_factor;      // the family's rope scaling factor; 0: none
  int64_t sliding_window;  // 0: none
  MoePreset moe = {};
};

struct PublishedValues {
  double rms_norm_eps = 1e-6;
  double rope_theta = 1e6;
  std::string_view rope_scaling = "";  // what a Preset's rope_factor scales by: "llama3", "linear"
  int64_t rope_original_context = 8192;  // llama3's and yarn's original_max_position_embeddings
  bool rope_truncate = true;             // yarn's truncate
  double swiglu_limit = 0;               // the experts' clamp (gpt-oss); 0: plain SwiGLU
  int64_t bos_token_id = -1, eos_token_id = -1;  // -1: none
};

// Fields with a default are those of a plain dense model (llama's layers, no window, SwiGLU,
// ChatML); a family's file sets what differs.
struct FamilyDescription {
  Family family;
  std::string_view name;  // in messages, --family and presets: "gemma3"

  // config.json and transformers
  std::span<const std::string_view> model_types;  // the model_type values read as this family
  std::string_view written_model_type;             // what vktrain writes: "gemma3_text"
  std::string_view architecture;                   // the causal-LM class: "Gemma3ForCausalLM"
  // A multimodal model_type whose text_config holds the text model, and the prefixes its
  // weights may carry (ModelConfig::weight_prefixes); "": none.
  std::string_view wrapper_model_type = "";
  std::span<const std::string_view> wrapper_weight_prefixes = {};
  // JSON of the family's config class defaults, for checkpoints that leave fields out; "": none.
  std::string_view config_defaults = "";
  std::string_view activation_key = "hidden_act";  // "hidden_activation" (Gemma)
  // JSON of the constant fields a written config.json carries beside the sizes.
  std::string_view written_constants = "{}";

  // The switches of the one Transformer (ModelConfig's, DESIGN.md "Architectures").
  bool attention_bias = false;           // q/k/v biases
  bool qk_norm = false;                  // per-head RMSNorm of q and k before RoPE
  bool gemma_norms = false;              // RMSNorm by (1 + w), sandwich norms, embeddings × sqrt(C)
  std::string_view activation = "silu";  // or "gelu_pytorch_tanh" (GEGLU)
  // Feed-forward blocks of routed experts (arch::MoeConfig, read from config.json's
  // num_experts, num_experts_per_tok, moe_intermediate_size, ...), with softmax-then-top-k
  // routing (ops/moe_router.hpp).
  bool mixture_of_experts = false;
  MoeNames experts = {};
  bool attention_sinks = false;  // a learned logit per query head joins each softmax (gpt-oss)
  bool output_bias = false;      // o_proj has a bias too, beside q/k/v's (gpt-oss; not qwen2)
  // Attention scales by 1/sqrt(query_pre_attn_scalar) (config.json's key). GGUF does not store
  // it, so this gives llama.cpp's rule from the sizes. nullptr: 1/sqrt(head_dim), no such key.
  double (*query_pre_attn_scalar)(const ModelConfig& sizes) = nullptr;

  // Layer pattern and RoPE.
  SlidingWindow window = SlidingWindow::none;
  int64_t sliding_period = 0;  // SlidingWindow::pattern: every nth layer is global
  // Sliding layers rotate with rope_local_theta and no scaling (config.json's
  // rope_local_base_freq or rope_parameters.sliding_attention, GGUF's rope.freq_base_swa);
  // otherwise every layer uses rope_theta and rope_scaling.
  bool local_rope = false;

  // Tensors: the layer tensors' name groups (tensor_names.hpp), in the order a checkpoint lists
  // them, and llama.cpp's convert_hf_to_gguf.py value conversions.
  std::span<const TensorNameGroup> layer_tensors;
  std::string_view gguf_architecture;  // general.architecture
  bool permutes_qk = false;   // Q and K rows from "rotate half" to ggml's interleaved pairs
  bool shifts_norms = false;  // every RMSNorm weight ("…norm.weight") stored as 1 + w
  int64_t padding_idx = -1;   // transformers' nn.Embedding padding_idx: its row starts at zero

  // Text.
  std::string_view chat_format = "chatml";  // ChatTemplate::builtin's, for a model without one
  std::string_view gguf_pre_tokenizer = "";  // tokenizer.ggml.pre of its vocabulary; "": none

  // Presets (model/presets.hpp), and what the family's published checkpoints share beyond their
  // sizes; `tiny` presets name no token ids.
  std::span<const Preset> presets = {};
  PublishedValues published = {};
};

const FamilyDescription& describe(Family family);
// Every family, in arch::Family's order.
std::span<const FamilyDescription* const> families();
// The families with presets, in the order `vktrain init` lists them.
std::span<const FamilyDescription* const> preset_families();
// The family whose config.json says this model_type, or nullptr.
const FamilyDescription* family_of_model_type(std::string_view model_type);
// The first family (in arch::Family's order) that GGUF's general.architecture names with or
// without experts as the file has them ({arch}.expert_count), else the first it names, or
// nullptr: "llama" is llama, though mistral is written so too, and mixtral with experts.
const FamilyDescription* family_of_gguf_architecture(std::string_view architecture,
                                                     bool experts = false);

// For messages: "llama, mistral, qwen2, qwen3 and gemma3"; the GGUF architectures read, each
// once: "llama, qwen2, qwen3 and gemma3".
std::string supported_families();
std::string supported_gguf_architectures();

}  // namespace vktrain::arch
