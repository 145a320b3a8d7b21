#include "model/presets.hpp"

#include <algorithm>
#include <cctype>

#include "base/error.hpp"

namespace vktrain::model {
namespace {

using io::Family;

struct Preset {
  Family family;
  std::string_view size;
  int64_t vocab, C, F, L, H, Hkv, D, context;
  bool tied;
  double rope_factor;      // llama: llama3 scaling; gemma3: linear on global layers; 0: none
  int64_t sliding_window;  // gemma3
};

// From each checkpoint's config.json.
constexpr Preset kPresets[] = {
    {Family::qwen3, "0.6B", 151936, 1024, 3072, 28, 16, 8, 128, 40960, true, 0, 0},
    {Family::qwen3, "1.7B", 151936, 2048, 6144, 28, 16, 8, 128, 40960, true, 0, 0},
    {Family::qwen3, "4B", 151936, 2560, 9728, 36, 32, 8, 128, 40960, true, 0, 0},
    {Family::qwen3, "8B", 151936, 4096, 12288, 36, 32, 8, 128, 40960, false, 0, 0},
    {Family::qwen3, "tiny", 32000, 128, 384, 4, 4, 2, 32, 2048, true, 0, 0},
    {Family::qwen2, "0.5B", 151936, 896, 4864, 24, 14, 2, 64, 32768, true, 0, 0},
    {Family::qwen2, "1.5B", 151936, 1536, 8960, 28, 12, 2, 128, 131072, true, 0, 0},
    {Family::qwen2, "tiny", 32000, 128, 384, 4, 4, 2, 32, 2048, true, 0, 0},
    {Family::llama, "1B", 128256, 2048, 8192, 16, 32, 8, 64, 131072, true, 32, 0},
    {Family::llama, "3B", 128256, 3072, 8192, 28, 24, 8, 128, 131072, true, 32, 0},
    {Family::llama, "8B", 128256, 4096, 14336, 32, 32, 8, 128, 131072, false, 8, 0},
    {Family::llama, "70B", 128256, 8192, 28672, 80, 64, 8, 128, 131072, false, 8, 0},
    {Family::llama, "tiny", 32000, 128, 384, 4, 4, 2, 32, 2048, true, 0, 0},
    {Family::gemma3, "270M", 262144, 640, 2048, 18, 4, 1, 256, 32768, true, 0, 512},
    {Family::gemma3, "1B", 262144, 1152, 6912, 26, 4, 1, 256, 32768, true, 0, 512},
    {Family::gemma3, "4B", 262208, 2560, 10240, 34, 8, 4, 256, 131072, true, 8, 1024},
    {Family::gemma3, "tiny", 32000, 128, 384, 6, 4, 2, 32, 2048, true, 0, 128},
};

bool same_text(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
  });
}

std::string preset_list() {
  std::string list;
  for (Family f : {Family::qwen3, Family::qwen2, Family::llama, Family::gemma3}) {
    list += list.empty() ? "" : "; ";
    list += io::family_name(f);
    for (const Preset& p : kPresets)
      if (p.family == f) list += " " + std::string(p.size);
  }
  return list;
}

// What the family's published checkpoints share: norm epsilon, rope bases and token ids.
void set_family_values(io::ModelConfig& c, const Preset& p) {
  const bool tiny = p.size == "tiny";
  switch (p.family) {
    case Family::qwen3:
    case Family::qwen2:
      c.rms_norm_eps = 1e-6;
      c.rope_theta = 1e6;
      if (!tiny) {
        c.bos_token_id = 151643;  // <|endoftext|>
        c.eos_token_ids = {p.family == Family::qwen3 ? 151645 : 151643};  // <|im_end|> in Qwen3
      }
      break;
    case Family::llama:
      c.rms_norm_eps = 1e-5;
      c.rope_theta = 500000;
      if (p.rope_factor > 0) {
        c.rope_scaling.type = "llama3";
        c.rope_scaling.factor = p.rope_factor;
        c.rope_scaling.low_freq_factor = 1;
        c.rope_scaling.high_freq_factor = 4;
        c.rope_scaling.original_max_position_embeddings = 8192;
      }
      if (!tiny) {
        c.bos_token_id = 128000;  // <|begin_of_text|>
        c.eos_token_ids = {128001};
      }
      break;
    case Family::gemma3:
      c.rms_norm_eps = 1e-6;
      c.rope_theta = 1e6;
      c.rope_local_theta = 10000;
      if (p.rope_factor > 0) {
        c.rope_scaling.type = "linear";
        c.rope_scaling.factor = p.rope_factor;
      }
      c.query_pre_attn_scalar = double(p.D);
      c.sliding_window = p.sliding_window;
      for (int64_t i = 0; i < p.L; ++i) c.sliding_layers[size_t(i)] = (i + 1) % 6 != 0;
      if (!tiny) {
        c.bos_token_id = 2;  // <bos>
        c.eos_token_ids = {1};
      }
      break;
    case Family::mistral: break;  // no presets
  }
}

}  // namespace

io::ModelConfig model_preset(std::string_view family, std::string_view size) {
  for (const Preset& p : kPresets) {
    if (!same_text(io::family_name(p.family), family) || !same_text(p.size, size)) continue;
    io::ModelConfig c = io::family_config(p.family);
    c.vocab_size = p.vocab;
    c.hidden_size = p.C;
    c.intermediate_size = p.F;
    c.num_layers = p.L;
    c.num_heads = p.H;
    c.num_kv_heads = p.Hkv;
    c.head_dim = p.D;
    c.max_position_embeddings = p.context;
    c.tie_word_embeddings = p.tied;
    c.sliding_layers.assign(size_t(p.L), false);
    set_family_values(c, p);
    return c;
  }
  fail("[preset] no model '{} {}'; the presets are: {}", family, size, preset_list());
}

}  // namespace vktrain::model
