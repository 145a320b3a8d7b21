#include <gtest/gtest.h>

#include <set>

#include "io/gguf_names.hpp"
#include "support/support.hpp"

using namespace vktrain;
using io::Family;

namespace {

constexpr Family kFamilies[] = {Family::llama, Family::qwen2, Family::qwen3,
                                     Family::gemma3};

std::vector<float> permuted(const std::vector<float>& in, int64_t heads, size_t cols,
                            bool to_gguf) {
  std::vector<float> out(in.size());
  auto o = std::as_writable_bytes(std::span(out));
  auto i = std::as_bytes(std::span(in));
  if (to_gguf)
    io::permute_qk_rows(o, i, heads, cols * sizeof(float));
  else
    io::unpermute_qk_rows(o, i, heads, cols * sizeof(float));
  return out;
}

}  // namespace

TEST(GgufNames, EveryTensorOfEveryFamilyRoundTrips) {
  for (Family family : kFamilies) {
    auto hf = io::hf_tensor_names(family, 3);
    std::set<std::string> gguf_names;
    for (const auto& name : hf) {
      std::string gguf = io::hf_to_gguf_name(family, name);
      EXPECT_EQ(io::gguf_to_hf_name(family, gguf), name) << io::gguf_architecture(family);
      gguf_names.insert(gguf);
    }
    EXPECT_EQ(gguf_names.size(), hf.size()) << "two HF names share a GGUF name";
    EXPECT_EQ(io::family_from_gguf(io::gguf_architecture(family)), family);
  }
  EXPECT_EQ(io::hf_tensor_names(Family::llama, 2).size(), 3u + 2 * 9);
  EXPECT_EQ(io::hf_tensor_names(Family::qwen2, 2).size(), 3u + 2 * 12);
  EXPECT_EQ(io::hf_tensor_names(Family::qwen3, 2).size(), 3u + 2 * 11);
  EXPECT_EQ(io::hf_tensor_names(Family::gemma3, 2).size(), 3u + 2 * 13);
}

// llama.cpp writes Mixtral as "llama" with expert_count: that file is a mixtral, one without
// experts a llama; both name their tensors alike, Q and K permuted.
TEST(GgufNames, MixtralIsTheLlamaArchitectureWithExperts) {
  EXPECT_EQ(io::gguf_architecture(Family::mixtral), "llama");
  EXPECT_EQ(io::family_from_gguf("llama", true), Family::mixtral);
  EXPECT_EQ(io::family_from_gguf("llama"), Family::llama);
  EXPECT_EQ(io::family_from_gguf("qwen3moe", true), Family::qwen3_moe);
  EXPECT_TRUE(io::permutes_qk(Family::mixtral));
  const auto hf = io::hf_tensor_names(Family::mixtral, 2);
  std::set<std::string> gguf_names;
  for (const auto& name : hf) {
    const std::string gguf = io::hf_to_gguf_name(Family::mixtral, name);
    EXPECT_EQ(io::gguf_to_hf_name(Family::mixtral, gguf), name);
    gguf_names.insert(gguf);
  }
  EXPECT_EQ(gguf_names.size(), hf.size()) << "two HF names share a GGUF name";
}

TEST(GgufNames, KnownPairsMapBothWays) {
  struct Pair {
    Family family;
    const char* gguf;
    const char* hf;
  };
  const Pair pairs[] = {
      {Family::llama, "token_embd.weight", "model.embed_tokens.weight"},
      {Family::llama, "output_norm.weight", "model.norm.weight"},
      {Family::llama, "output.weight", "lm_head.weight"},
      {Family::llama, "blk.17.attn_q.weight", "model.layers.17.self_attn.q_proj.weight"},
      {Family::llama, "blk.0.attn_output.weight", "model.layers.0.self_attn.o_proj.weight"},
      {Family::llama, "blk.3.ffn_norm.weight", "model.layers.3.post_attention_layernorm.weight"},
      {Family::qwen2, "blk.1.attn_v.bias", "model.layers.1.self_attn.v_proj.bias"},
      {Family::qwen3, "blk.2.attn_k_norm.weight", "model.layers.2.self_attn.k_norm.weight"},
      {Family::qwen3, "blk.25.ffn_down.weight", "model.layers.25.mlp.down_proj.weight"},
      {Family::gemma3, "blk.4.attn_norm.weight", "model.layers.4.input_layernorm.weight"},
      {Family::gemma3, "blk.4.post_attention_norm.weight",
       "model.layers.4.post_attention_layernorm.weight"},
      {Family::gemma3, "blk.4.ffn_norm.weight", "model.layers.4.pre_feedforward_layernorm.weight"},
      {Family::gemma3, "blk.4.post_ffw_norm.weight",
       "model.layers.4.post_feedforward_layernorm.weight"},
      // llama.cpp's Mixtral: the router and the stacked experts (the device's fused names).
      {Family::mixtral, "blk.5.ffn_gate_inp.weight", "model.layers.5.mlp.gate.weight"},
      {Family::mixtral, "blk.5.ffn_gate_exps.weight", "model.layers.5.mlp.experts.gate_proj"},
      {Family::mixtral, "blk.5.ffn_up_exps.weight", "model.layers.5.mlp.experts.up_proj"},
      {Family::mixtral, "blk.5.ffn_down_exps.weight", "model.layers.5.mlp.experts.down_proj"},
      {Family::mixtral, "blk.5.ffn_norm.weight", "model.layers.5.post_attention_layernorm.weight"},
      // llama.cpp's gpt-oss (tensor_mapping.py, conversion/gpt_oss.py).
      {Family::gpt_oss, "blk.2.attn_sinks.weight", "model.layers.2.self_attn.sinks"},
      {Family::gpt_oss, "blk.2.attn_output.bias", "model.layers.2.self_attn.o_proj.bias"},
      {Family::gpt_oss, "blk.2.ffn_gate_inp.bias", "model.layers.2.mlp.router.bias"},
      {Family::gpt_oss, "blk.2.ffn_up_exps.bias", "model.layers.2.mlp.experts.up_proj_bias"},
      {Family::gpt_oss, "blk.2.post_attention_norm.weight",
       "model.layers.2.post_attention_layernorm.weight"},
  };
  for (const auto& p : pairs) {
    EXPECT_EQ(io::gguf_to_hf_name(p.family, p.gguf), p.hf);
    EXPECT_EQ(io::hf_to_gguf_name(p.family, p.hf), p.gguf);
  }
}

TEST(GgufNames, UnknownNamesAreErrors) {
  auto expect = [](Family f, const char* name, bool to_hf) {
    auto message = test::error_message([&] {
      to_hf ? io::gguf_to_hf_name(f, name) : io::hf_to_gguf_name(f, name);
    });
    EXPECT_NE(message.find(std::string("[gguf] tensor '") + name + "' has no"),
              std::string::npos) << message;
    EXPECT_NE(message.find(io::gguf_architecture(f)), std::string::npos) << message;
  };
  expect(Family::llama, "blk.0.attn_q.bias", true);        // only qwen2 has biases
  expect(Family::qwen2, "blk.0.attn_q_norm.weight", true);  // only qwen3/gemma3 q/k norms
  expect(Family::llama, "blk.0.post_ffw_norm.weight", true);
  expect(Family::llama, "rope_freqs.weight", true);  // generated by the converter
  expect(Family::llama, "blk.x.attn_q.weight", true);
  expect(Family::llama, "blk.01.attn_q.weight", true);
  expect(Family::llama, "blk..attn_q.weight", true);
  expect(Family::gemma3, "model.layers.0.post_attention_norm.weight", false);
  expect(Family::qwen3, "model.layers.0.self_attn.rotary_emb.inv_freq", false);
  expect(Family::qwen3, "token_embd.weight", false);
  EXPECT_NE(test::error_message([] { io::family_from_gguf("mistral3"); })
                .find("architecture 'mistral3' is not supported"),
            std::string::npos);
}

// convert_hf_to_gguf.py's permute: w.reshape(heads, 2, rows / heads / 2, cols).swapaxes(1, 2).
// Two heads of dim 4, one column: HF rows [0 1 2 3 | 4 5 6 7] hold, per head, the first halves
// (0 1) then the second halves (2 3) of the rotation pairs; GGUF interleaves them: 0 2 1 3.
TEST(GgufNames, PermuteMatchesTheConverterOnAKnownExample) {
  std::vector<float> rows = {0, 1, 2, 3, 4, 5, 6, 7};
  EXPECT_EQ(permuted(rows, 2, 1, true), (std::vector<float>{0, 2, 1, 3, 4, 6, 5, 7}));
  // One head of dim 6, two columns: rows a0 a1 a2 b0 b1 b2 -> a0 b0 a1 b1 a2 b2, whole rows.
  std::vector<float> wide = {10, 11, 20, 21, 30, 31, 40, 41, 50, 51, 60, 61};
  EXPECT_EQ(permuted(wide, 1, 2, true),
            (std::vector<float>{10, 11, 40, 41, 20, 21, 50, 51, 30, 31, 60, 61}));
  EXPECT_EQ(permuted(permuted(wide, 1, 2, true), 1, 2, false), wide);
}

TEST(GgufNames, UnpermuteInvertsPermute) {
  const size_t cols = 5;
  for (int64_t heads : {1, 2, 4, 8}) {
    auto w = test::random_values(size_t(heads) * 16 * cols, uint32_t(heads));
    auto there = permuted(w, heads, cols, true);
    EXPECT_NE(there, w);
    EXPECT_EQ(permuted(there, heads, cols, false), w) << heads;
    EXPECT_EQ(permuted(permuted(w, heads, cols, false), heads, cols, true), w) << heads;
  }
  EXPECT_TRUE(io::permutes_qk(Family::llama));
  EXPECT_FALSE(io::permutes_qk(Family::qwen2));
  EXPECT_FALSE(io::permutes_qk(Family::qwen3));
  EXPECT_FALSE(io::permutes_qk(Family::gemma3));
}

TEST(GgufNames, PermuteRefusesShapesThatDoNotSplitIntoHeads) {
  std::vector<float> w(6 * 3), out(w.size());
  auto message = test::error_message([&] {
    io::permute_qk_rows(std::as_writable_bytes(std::span(out)), std::as_bytes(std::span(w)), 2,
                        3 * sizeof(float));
  });
  EXPECT_NE(message.find("6 rows do not split into 2 heads of an even head size"),
            std::string::npos) << message;
  message = test::error_message([&] {
    io::unpermute_qk_rows(std::as_writable_bytes(std::span(out).first(4)),
                          std::as_bytes(std::span(w)), 1, 4);
  });
  EXPECT_NE(message.find("output has 16 bytes, input 72"), std::string::npos) << message;
}

TEST(GgufNames, GemmaNormsShiftByOneBothWays) {
  EXPECT_TRUE(io::shifts_norm(Family::gemma3, "model.norm.weight"));
  EXPECT_TRUE(io::shifts_norm(Family::gemma3, "model.layers.0.input_layernorm.weight"));
  EXPECT_TRUE(io::shifts_norm(Family::gemma3, "model.layers.0.self_attn.q_norm.weight"));
  EXPECT_TRUE(
      io::shifts_norm(Family::gemma3, "model.layers.0.post_feedforward_layernorm.weight"));
  EXPECT_FALSE(io::shifts_norm(Family::gemma3, "model.layers.0.mlp.up_proj.weight"));
  EXPECT_FALSE(io::shifts_norm(Family::gemma3, "model.embed_tokens.weight"));
  EXPECT_FALSE(io::shifts_norm(Family::llama, "model.norm.weight"));
  EXPECT_FALSE(io::shifts_norm(Family::qwen3, "model.layers.0.self_attn.q_norm.weight"));

  std::vector<float> w = {0.5f, -1.0f, 0.0f, 2.25f};
  io::norm_to_gguf(w);
  EXPECT_EQ(w, (std::vector<float>{1.5f, 0.0f, 1.0f, 3.25f}));
  io::norm_from_gguf(w);
  EXPECT_EQ(w, (std::vector<float>{0.5f, -1.0f, 0.0f, 2.25f}));
}
