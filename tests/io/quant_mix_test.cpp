// What llama-quantize would store each tensor as. The expectations are derived by hand from
// llama.cpp's src/llama-quant.cpp (llama_tensor_get_type_impl and tensor_type_fallback, no
// importance matrix): use_more_bits(i, n) = i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2 picks the
// attn_v and ffn_down layers that Q4_K_M and Q5_K_M raise to Q6_K; output.weight (or the tied
// token_embd.weight) is Q6_K unless the mix is Q8_0; a row that does not fill the type's blocks
// falls back Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, and to F16 past 32-value blocks.
#include "io/quant_mix.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "io/gguf_names.hpp"
#include "support/support.hpp"

using namespace vktrain;
using io::GgmlType;
using io::QuantizeMix;

namespace {

io::ModelConfig config(io::Family family, int64_t layers, int64_t hidden, int64_t ffn,
                       int64_t heads, int64_t kv_heads, int64_t head_dim, bool tied) {
  io::ModelConfig c = io::family_config(family);
  c.num_layers = layers, c.hidden_size = hidden, c.intermediate_size = ffn;
  c.num_heads = heads, c.num_kv_heads = kv_heads, c.head_dim = head_dim;
  c.vocab_size = 1000, c.tie_word_embeddings = tied;
  return c;
}

// [out, in] of each Hugging Face tensor of the config; norms are 1-D.
std::vector<int64_t> hf_shape(const io::ModelConfig& c, const std::string& name) {
  const int64_t q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
  if (name.ends_with("norm.weight")) return {c.hidden_size};
  if (name.ends_with("embed_tokens.weight") || name == "lm_head.weight")
    return {c.vocab_size, c.hidden_size};
  if (name.ends_with("q_proj.weight")) return {q, c.hidden_size};
  if (name.ends_with("k_proj.weight") || name.ends_with("v_proj.weight"))
    return {kv, c.hidden_size};
  if (name.ends_with("o_proj.weight")) return {c.hidden_size, q};
  if (name.ends_with("down_proj.weight")) return {c.hidden_size, c.intermediate_size};
  return {c.intermediate_size, c.hidden_size};  // gate_proj, up_proj
}

// Every tensor of the model, by GGUF name, as the mix types it.
std::map<std::string, GgmlType> types(QuantizeMix mix, const io::ModelConfig& c) {
  std::map<std::string, GgmlType> out;
  for (const auto& name : io::hf_tensor_names(c.family, int(c.num_layers))) {
    if (name == "lm_head.weight" && c.tie_word_embeddings) continue;
    auto shape = hf_shape(c, name);
    out[io::hf_to_gguf_name(c.family, name)] = io::tensor_quantization(mix, c, name, shape).type;
  }
  return out;
}

std::string layer_tensor(int layer, const char* suffix) {
  return "blk." + std::to_string(layer) + "." + suffix;
}

}  // namespace

TEST(QuantMix, ParsesTheSevenMixesAndRefusesOthers) {
  EXPECT_EQ(io::parse_quantize_mix("q4_k"), QuantizeMix::q4_k_m);
  EXPECT_EQ(io::parse_quantize_mix("q5_k"), QuantizeMix::q5_k_m);
  EXPECT_EQ(io::parse_quantize_mix("q4_k_s"), QuantizeMix::q4_k_s);
  EXPECT_EQ(io::quantize_mix_type(QuantizeMix::q4_k_s), GgmlType::q4_k);
  EXPECT_EQ(io::parse_quantize_mix("q4_k_pure"), QuantizeMix::q4_k_pure);
  EXPECT_EQ(io::quantize_mix_type(io::parse_quantize_mix("q6_k")), GgmlType::q6_k);
  EXPECT_EQ(io::quantize_mix_type(io::parse_quantize_mix("q8_0")), GgmlType::q8_0);
  EXPECT_EQ(io::quantize_mix_name(io::parse_quantize_mix("q4_0")), "q4_0");
  auto message = test::error_message([] { io::parse_quantize_mix("q3_k"); });
  EXPECT_EQ(message,
            "[quantize] unknown type 'q3_k': --quantize takes q8_0, q6_k, q5_k "
            "(llama-quantize's Q5_K_M), q4_k (Q4_K_M), q4_k_s (Q4_K_S), q4_k_pure (Q4_K, the "
            "output Q6_K) or q4_0");
}

// Qwen3-0.6B's shapes: 28 layers, tied embeddings. use_more_bits(i, 28): i < 3, i >= 24, or
// (i - 3) % 3 == 2, i.e. layers 0-2, 5, 8, ..., 23 and 24-27.
TEST(QuantMix, Qwen3LikeQ4_K_MAsLlamaQuantize) {
  const auto c = config(io::Family::qwen3, 28, 1024, 3072, 16, 8, 128, true);
  const auto got = types(QuantizeMix::q4_k_m, c);
  const std::set<int> more_bits = {0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 24, 25, 26, 27};
  EXPECT_EQ(got.at("token_embd.weight"), GgmlType::q6_k);  // tied: it is the output projection
  EXPECT_EQ(got.count("output.weight"), 0u);
  EXPECT_EQ(got.at("output_norm.weight"), GgmlType::f32);
  for (int i = 0; i < 28; ++i) {
    const GgmlType raised = more_bits.count(i) ? GgmlType::q6_k : GgmlType::q4_k;
    EXPECT_EQ(got.at(layer_tensor(i, "attn_v.weight")), raised) << i;
    EXPECT_EQ(got.at(layer_tensor(i, "ffn_down.weight")), raised) << i;
    for (const char* plain : {"attn_q.weight", "attn_k.weight", "attn_output.weight",
                              "ffn_gate.weight", "ffn_up.weight"})
      EXPECT_EQ(got.at(layer_tensor(i, plain)), GgmlType::q4_k) << i << plain;
    for (const char* norm :
         {"attn_norm.weight", "ffn_norm.weight", "attn_q_norm.weight", "attn_k_norm.weight"})
      EXPECT_EQ(got.at(layer_tensor(i, norm)), GgmlType::f32) << i << norm;
  }
}

// Llama-3.1-8B's shapes: 32 layers, untied. use_more_bits(i, 32): i < 4, i >= 28, or
// (i - 4) % 3 == 2. The embeddings keep the mix's type; output.weight is Q6_K, in Q4_0 too.
TEST(QuantMix, LlamaLikeMixesAsLlamaQuantize) {
  const auto c = config(io::Family::llama, 32, 4096, 14336, 32, 8, 128, false);
  const std::set<int> more_bits = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31};
  for (QuantizeMix mix : {QuantizeMix::q4_k_m, QuantizeMix::q5_k_m}) {
    const GgmlType base = io::quantize_mix_type(mix);
    const auto got = types(mix, c);
    EXPECT_EQ(got.at("token_embd.weight"), base);
    EXPECT_EQ(got.at("output.weight"), GgmlType::q6_k);
    for (int i = 0; i < 32; ++i) {
      const GgmlType raised = more_bits.count(i) ? GgmlType::q6_k : base;
      EXPECT_EQ(got.at(layer_tensor(i, "attn_v.weight")), raised) << i;
      EXPECT_EQ(got.at(layer_tensor(i, "ffn_down.weight")), raised) << i;
      EXPECT_EQ(got.at(layer_tensor(i, "attn_k.weight")), base) << i;
    }
  }
  for (QuantizeMix mix : {QuantizeMix::q8_0, QuantizeMix::q6_k, QuantizeMix::q4_0}) {
    const GgmlType base = io::quantize_mix_type(mix);
    for (const auto& [name, type] : types(mix, c)) {
      const GgmlType want = name.ends_with("norm.weight")                         ? GgmlType::f32
                            : name == "output.weight" && mix != QuantizeMix::q8_0 ? GgmlType::q6_k
                                                                                  : base;
      EXPECT_EQ(type, want) << name << " in " << io::quantize_mix_name(mix);
    }
  }
  // Reasons name the rule; tensors of the mix's own type carry none.
  const std::vector<int64_t> v_shape = {1024, 4096};
  auto v0 = io::tensor_quantization(QuantizeMix::q4_k_m, c, "blk.0.attn_v.weight", v_shape);
  EXPECT_EQ(v0.reason, "llama-quantize's Q4_K_M gives attn_v of layer 0 (of 32) Q6_K");
  auto v4 = io::tensor_quantization(QuantizeMix::q4_k_m, c,
                                    "model.layers.4.self_attn.v_proj.weight", v_shape);
  EXPECT_EQ(v4.type, GgmlType::q4_k);
  EXPECT_EQ(v4.reason, "");
}

// Llama-3.1-70B: 80 layers with 8 KV heads is llama.cpp's LLM_TYPE_70B, whose attn_v tensors
// that Q4_K_M leaves at Q4_K become Q5_K.
TEST(QuantMix, SeventyBLlamaRaisesAttnV) {
  const auto c = config(io::Family::llama, 80, 8192, 28672, 64, 8, 128, false);
  const std::vector<int64_t> v_shape = {1024, 8192};
  EXPECT_EQ(io::tensor_quantization(QuantizeMix::q4_k_m, c, "blk.11.attn_v.weight", v_shape).type,
            GgmlType::q5_k);  // 11 - 10 = 1: not a more-bits layer
  EXPECT_EQ(io::tensor_quantization(QuantizeMix::q4_k_m, c, "blk.12.attn_v.weight", v_shape).type,
            GgmlType::q6_k);
  EXPECT_EQ(io::tensor_quantization(QuantizeMix::q4_0, c, "blk.11.attn_v.weight", v_shape).type,
            GgmlType::q4_0);
  EXPECT_EQ(io::tensor_quantization(QuantizeMix::q4_k_m, c, "blk.11.ffn_down.weight",
                                    std::vector<int64_t>{8192, 28672})
                .type,
            GgmlType::q4_k);
}

// Q4_K_S (llama-quant.cpp: attn_v while i_attention_wv < 4 and ffn_down while
// i_layer < n_layer / 8 get Q5_K; the embeddings keep Q4_K; output.weight is Q6_K), on
// Llama-3.1-8B's shapes (32 layers: ffn_down of layers 0-3) and Llama-3.1-70B's (80 layers: a
// 70B model's attn_v is Q5_K throughout, ffn_down of layers 0-9), the size target.
TEST(QuantMix, Q4_K_SAsLlamaQuantize) {
  for (int layers : {32, 80}) {
    SCOPED_TRACE(layers);
    const auto c = layers == 32 ? config(io::Family::llama, 32, 4096, 14336, 32, 8, 128, false)
                                : config(io::Family::llama, 80, 8192, 28672, 64, 8, 128, false);
    const auto got = types(QuantizeMix::q4_k_s, c);
    EXPECT_EQ(got.at("token_embd.weight"), GgmlType::q4_k);
    EXPECT_EQ(got.at("output.weight"), GgmlType::q6_k);
    EXPECT_EQ(got.at("output_norm.weight"), GgmlType::f32);
    for (int i = 0; i < layers; ++i) {
      EXPECT_EQ(got.at(layer_tensor(i, "attn_v.weight")),
                i < 4 || layers == 80 ? GgmlType::q5_k : GgmlType::q4_k) << i;
      EXPECT_EQ(got.at(layer_tensor(i, "ffn_down.weight")),
                i < layers / 8 ? GgmlType::q5_k : GgmlType::q4_k) << i;
      for (const char* plain : {"attn_q.weight", "attn_k.weight", "attn_output.weight",
                                "ffn_gate.weight", "ffn_up.weight"})
        EXPECT_EQ(got.at(layer_tensor(i, plain)), GgmlType::q4_k) << i << plain;
    }
  }
  const auto c = config(io::Family::llama, 32, 4096, 14336, 32, 8, 128, false);
  EXPECT_EQ(io::tensor_quantization(QuantizeMix::q4_k_s, c, "blk.3.ffn_down.weight",
                                    std::vector<int64_t>{4096, 14336}).reason,
            "llama-quantize's Q4_K_S gives ffn_down of layer 3 (of 32) Q5_K");
  // Rows that fill no 256-value block fall back as in the other K mixes: Q4_K -> Q5_0,
  // Q5_K -> Q5_1, and the output to Q8_0.
  const auto g = types(QuantizeMix::q4_k_s, config(io::Family::gemma3, 18, 640, 2048, 4, 1, 256, true));
  EXPECT_EQ(g.at("token_embd.weight"), GgmlType::q8_0);
  EXPECT_EQ(g.at("blk.3.attn_q.weight"), GgmlType::q5_0);
  EXPECT_EQ(g.at("blk.0.attn_v.weight"), GgmlType::q5_1);
  EXPECT_EQ(g.at("blk.0.ffn_down.weight"), GgmlType::q5_k);  // rows of 2048
}

// q4_k_pure (llama-quantize --pure --output-tensor-type q6_k) on Llama-3.1-70B's shapes: no
// per-tensor mixing, not even the 70B attn_v rule; only the output is Q6_K.
TEST(QuantMix, Q4_KPureIsQ4_KButTheOutput) {
  const auto c = config(io::Family::llama, 80, 8192, 28672, 64, 8, 128, false);
  for (const auto& [name, type] : types(QuantizeMix::q4_k_pure, c))
    EXPECT_EQ(type, name == "output.weight"          ? GgmlType::q6_k
                    : name.find("norm") != std::string::npos ? GgmlType::f32
                                                             : GgmlType::q4_k)
        << name;
}

// Gemma-3-270M's shapes: hidden 640 is not a whole number of 256-value blocks, so every tensor
// with rows of 640 falls back; the tied embeddings become Q8_0 (llama-quant.cpp's output rule
// checks the mix's block size first).
TEST(QuantMix, RowsThatDoNotFillAK_QuantBlockFallBackAsLlamaQuantize) {
  const auto c = config(io::Family::gemma3, 18, 640, 2048, 4, 1, 256, true);
  const auto q4 = types(QuantizeMix::q4_k_m, c);
  EXPECT_EQ(q4.at("token_embd.weight"), GgmlType::q8_0);
  EXPECT_EQ(q4.at("blk.3.attn_q.weight"), GgmlType::q5_0);
  EXPECT_EQ(q4.at("blk.3.ffn_up.weight"), GgmlType::q5_0);
  EXPECT_EQ(q4.at("blk.3.attn_v.weight"), GgmlType::q5_0);
  EXPECT_EQ(q4.at("blk.0.attn_v.weight"), GgmlType::q8_0);       // Q6_K, then its fallback
  EXPECT_EQ(q4.at("blk.3.attn_output.weight"), GgmlType::q4_k);  // rows of 4 * 256
  EXPECT_EQ(q4.at("blk.3.ffn_down.weight"), GgmlType::q4_k);     // rows of 2048
  EXPECT_EQ(q4.at("blk.0.ffn_down.weight"), GgmlType::q6_k);
  const auto q5 = types(QuantizeMix::q5_k_m, c);
  EXPECT_EQ(q5.at("blk.3.attn_q.weight"), GgmlType::q5_1);
  EXPECT_EQ(types(QuantizeMix::q6_k, c).at("blk.3.attn_q.weight"), GgmlType::q8_0);
  EXPECT_EQ(types(QuantizeMix::q4_0, c).at("blk.3.attn_q.weight"), GgmlType::q4_0);

  const std::vector<int64_t> shape = {1024, 640};
  auto q = io::tensor_quantization(QuantizeMix::q4_k_m, c, "blk.3.attn_q.weight", shape);
  EXPECT_EQ(q.reason, "rows of 640 values are not a whole number of 256-value Q4_K blocks");
  const std::vector<int64_t> odd = {64, 100};  // no 32-value block fits either
  for (QuantizeMix mix : {QuantizeMix::q4_k_m, QuantizeMix::q8_0, QuantizeMix::q4_0})
    EXPECT_EQ(io::tensor_quantization(mix, c, "blk.3.attn_q.weight", odd).type, GgmlType::f16);
}

TEST(QuantMix, RefusesALayerOutsideTheModel) {
  const auto c = config(io::Family::qwen3, 4, 256, 512, 2, 1, 128, true);
  const std::vector<int64_t> shape = {128, 256};
  auto message = test::error_message(
      [&] { io::tensor_quantization(QuantizeMix::q4_k_m, c, "blk.9.attn_v.weight", shape); });
  EXPECT_EQ(message, "[quantize] tensor blk.9.attn_v.weight is not in one of the model's 4 layers");
}
