#include "model/presets.hpp"

#include <algorithm>
#include <cctype>

#include "arch/family.hpp"
#include "base/error.hpp"

namespace vktrain::model {
namespace {

bool same_text(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
  });
}

std::string preset_list() {
  std::string list;
  for (const arch::FamilyDescription* family : arch::preset_families()) {
    list += list.empty() ? "" : "; ";
    list += family->name;
    for (const arch::Preset& p : family->presets) list += " " + std::string(p.size);
  }
  return list;
}

// What the family's published checkpoints share, and the preset's rope scaling and window.
void published_values(io::ModelConfig& c, const arch::FamilyDescription& family,
                      const arch::Preset& p) {
  const arch::PublishedValues& published = family.published;
  c.rms_norm_eps = published.rms_norm_eps;
  c.rope_theta = published.rope_theta;
  if (p.rope_factor > 0) {  // llama3's and yarn's other parameters are RopeScaling's defaults
    c.rope_scaling.type = published.rope_scaling;
    c.rope_scaling.factor = p.rope_factor;
    c.rope_scaling.original_max_position_embeddings = published.rope_original_context;
    c.rope_scaling.truncate = published.rope_truncate;
  }
  c.moe.swiglu_limit = published.swiglu_limit;
  if (family.query_pre_attn_scalar) c.query_pre_attn_scalar = family.query_pre_attn_scalar(c);
  if (p.sliding_window > 0) {
    c.sliding_window = p.sliding_window;
    for (int64_t i = 0; i < p.L; ++i)
      c.sliding_layers[size_t(i)] = family.sliding_period == 0 || (i + 1) % family.sliding_period;
  }
  if (p.size == "tiny") return;  // no tokenizer of its own
  if (published.bos_token_id >= 0) c.bos_token_id = published.bos_token_id;
  if (published.eos_token_id >= 0) c.eos_token_ids = {published.eos_token_id};
}

}  // namespace

io::ModelConfig model_preset(std::string_view family, std::string_view size) {
  for (const arch::FamilyDescription* d : arch::preset_families()) {
    if (!same_text(d->name, family)) continue;
    for (const arch::Preset& p : d->presets) {
      if (!same_text(p.size, size)) continue;
      io::ModelConfig c = io::family_config(d->family);
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
      c.moe.experts = p.moe.experts;
      c.moe.experts_per_token = p.moe.k;
      c.moe.intermediate_size = p.moe.F;
      c.moe.normalize_topk = p.moe.normalize_topk;
      c.moe.aux_loss_coef = p.moe.aux_loss_coef;
      published_values(c, *d, p);
      return c;
    }
  }
  fail("[preset] no model '{} {}'; the presets are: {}", family, size, preset_list());
}

}  // namespace vktrain::model
