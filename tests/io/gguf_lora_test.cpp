// io::write_gguf_lora against what llama.cpp's llama_adapter_lora_init expects (metadata keys,
// tensor names, ggml shapes, Q/K permutation of lora_b, the rsLoRA alpha), and io::add_hf_weight's
// choice of tensor types. No llama.cpp runs here: the expectations are read off its source
// (src/llama-adapter.cpp, convert_lora_to_gguf.py).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "io/gguf.hpp"
#include "io/gguf_export.hpp"
#include "io/gguf_lora.hpp"
#include "io/gguf_names.hpp"
#include "support/converted_gguf.hpp"
#include "support/support.hpp"

namespace vktrain {
namespace {

io::ModelConfig small_llama() { return test::small_gguf_config(io::Family::llama, 2); }

// A rank-4 adapter on q_proj and down_proj of every layer.
io::PeftAdapter adapter_for(const io::ModelConfig& c, bool rslora) {
  io::PeftAdapter a;
  a.lora.rank = 4;
  a.lora.alpha = 8;
  a.lora.rslora = rslora;
  a.lora.targets = {"q_proj", "down_proj"};
  uint32_t seed = 1;
  for (int64_t layer = 0; layer < c.num_layers; ++layer) {
    auto add = [&](const std::string& module, int64_t out, int64_t in) {
      const std::string base = "model.layers." + std::to_string(layer) + "." + module;
      a.shapes[base + ".lora_A.weight"] = {4, in};
      a.weights[base + ".lora_A.weight"] = test::random_values(size_t(4 * in), seed++);
      a.shapes[base + ".lora_B.weight"] = {out, 4};
      a.weights[base + ".lora_B.weight"] = test::random_values(size_t(out * 4), seed++);
    };
    add("self_attn.q_proj", c.num_heads * c.head_dim, c.hidden_size);
    add("mlp.down_proj", c.hidden_size, c.intermediate_size);
  }
  return a;
}

std::vector<float> floats(const io::GgufReader& gguf, const std::string& name) {
  const auto& info = gguf.tensor(name);
  return io::dequantize(gguf.data(name), info.type, info.elements());
}

TEST(GgufLora, MetadataNamesAndShapesAsLlamaCppLoadsThem) {
  const auto c = small_llama();
  const auto adapter = adapter_for(c, false);
  test::TempDir dir;
  io::write_gguf_lora(dir.file("lora.gguf"), c, adapter);
  io::GgufReader gguf(dir.file("lora.gguf"));
  EXPECT_EQ(gguf.get<std::string>("general.architecture"), "llama");
  EXPECT_EQ(gguf.get<std::string>("general.type"), "adapter");
  EXPECT_EQ(gguf.get<std::string>("adapter.type"), "lora");
  EXPECT_EQ(gguf.get<float>("adapter.lora.alpha"), 8.0f);
  EXPECT_EQ(gguf.tensor_names().size(), 8u);  // 2 layers x 2 modules x (a, b)

  const int64_t q_out = c.num_heads * c.head_dim;
  for (int layer = 0; layer < 2; ++layer) {
    const std::string blk = "blk." + std::to_string(layer) + ".";
    const std::string hf = "model.layers." + std::to_string(layer) + ".";
    // llama.cpp: W.ne[0] == a.ne[0] (in), W.ne[1] == b.ne[1] (out), a.ne[1] == b.ne[0] (R).
    EXPECT_EQ(gguf.tensor(blk + "attn_q.weight.lora_a").dims, (std::vector<uint64_t>{32, 4}));
    EXPECT_EQ(gguf.tensor(blk + "attn_q.weight.lora_b").dims,
              (std::vector<uint64_t>{4, uint64_t(q_out)}));
    EXPECT_EQ(gguf.tensor(blk + "ffn_down.weight.lora_a").dims, (std::vector<uint64_t>{48, 4}));
    EXPECT_EQ(gguf.tensor(blk + "ffn_down.weight.lora_b").dims, (std::vector<uint64_t>{4, 32}));
    EXPECT_EQ(gguf.tensor(blk + "attn_q.weight.lora_a").type, io::GgmlType::f32);

    // lora_a as it is; lora_b of Q with its rows in the converter's RoPE order, as W's.
    EXPECT_EQ(floats(gguf, blk + "attn_q.weight.lora_a"),
              adapter.weights.at(hf + "self_attn.q_proj.lora_A.weight"));
    const auto& b = adapter.weights.at(hf + "self_attn.q_proj.lora_B.weight");
    std::vector<float> permuted(b.size());
    io::permute_qk_rows(std::as_writable_bytes(std::span(permuted)), std::as_bytes(std::span(b)),
                        c.num_heads, 4 * sizeof(float));
    EXPECT_EQ(floats(gguf, blk + "attn_q.weight.lora_b"), permuted);
    EXPECT_NE(permuted, b);
    EXPECT_EQ(floats(gguf, blk + "ffn_down.weight.lora_b"),
              adapter.weights.at(hf + "mlp.down_proj.lora_B.weight"));
  }
}

TEST(GgufLora, RsLoraAlphaGivesLlamaCppTheSameScale) {
  const auto c = small_llama();
  const auto adapter = adapter_for(c, true);
  test::TempDir dir;
  io::write_gguf_lora(dir.file("lora.gguf"), c, adapter, io::GgmlType::f16);
  io::GgufReader gguf(dir.file("lora.gguf"));
  const float alpha = gguf.get<float>("adapter.lora.alpha");
  EXPECT_EQ(alpha, float(8 * std::sqrt(4.0)));
  EXPECT_DOUBLE_EQ(double(alpha) / 4, adapter.lora.scale());  // llama.cpp: alpha / R
  EXPECT_EQ(gguf.tensor("blk.0.ffn_down.weight.lora_b").type, io::GgmlType::f16);
}

TEST(GgufLora, UnpairedOrMisshapenWeightsAreOneError) {
  const auto c = small_llama();
  test::TempDir dir;
  auto adapter = adapter_for(c, false);
  adapter.weights.erase("model.layers.1.mlp.down_proj.lora_A.weight");
  EXPECT_NE(test::error_message([&] { io::write_gguf_lora(dir.file("x.gguf"), c, adapter); })
                .find("no model.layers.1.mlp.down_proj.lora_A.weight to pair"),
            std::string::npos);
  adapter = adapter_for(c, false);
  adapter.shapes["model.layers.0.mlp.down_proj.lora_B.weight"] = {32, 2};
  EXPECT_NE(test::error_message([&] { io::write_gguf_lora(dir.file("x.gguf"), c, adapter); })
                .find("has rank 2 but its lora_A 4"),
            std::string::npos);
  EXPECT_NE(test::error_message([&] {
              io::write_gguf_lora(dir.file("x.gguf"), c, adapter_for(c, false), io::GgmlType::q8_0);
            }).find("F32 or F16, not Q8_0"),
            std::string::npos);
}

TEST(GgufExport, VectorsStayF32AndQ8_0FallsBackToF16ForPartialBlocks) {
  const auto c = small_llama();
  io::GgufModelFile file = io::gguf_model_file(c, io::GgmlType::q8_0);
  EXPECT_EQ(file.metadata.at("general.file_type"), io::GgufValue(uint32_t(7)));
  io::add_hf_weight(file, c, "model.norm.weight", {32}, test::random_values(32, 1),
                    io::GgmlType::q8_0);
  io::add_hf_weight(file, c, "model.layers.0.mlp.up_proj.weight", {48, 32},
                    test::random_values(48 * 32, 2), io::GgmlType::q8_0);
  io::add_hf_weight(file, c, "model.layers.0.mlp.down_proj.weight", {32, 48},
                    test::random_values(48 * 32, 3), io::GgmlType::q8_0);
  EXPECT_EQ(file.find("output_norm.weight")->type, io::GgmlType::f32);
  EXPECT_EQ(file.find("blk.0.ffn_up.weight")->type, io::GgmlType::q8_0);    // rows of 32
  EXPECT_EQ(file.find("blk.0.ffn_down.weight")->type, io::GgmlType::f16);  // rows of 48
  EXPECT_EQ(file.find("blk.0.ffn_down.weight")->dims, (std::vector<uint64_t>{48, 32}));
}

}  // namespace
}  // namespace vktrain
