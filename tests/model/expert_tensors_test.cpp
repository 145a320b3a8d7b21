// A mixture-of-experts model's weights on disk: written as the Hugging Face hub's checkpoints
// hold them (one tensor per expert and projection under the family's names, as transformers and
// llama.cpp's converter read them) and as llama.cpp's GGUF, read back from those or transformers 5's fused form to the
// same values, and each way the experts can disagree with the config is one error naming the
// tensor; gpt-oss's MXFP4 experts (the hub's) decode to the format's values.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <fstream>

#include "arch/tensor_names.hpp"
#include "cli/export.hpp"
#include "cli/init.hpp"
#include "io/checkpoint.hpp"
#include "io/gguf_export.hpp"
#include "io/model_config_writer.hpp"
#include "io/model_files.hpp"
#include "io/model_source.hpp"
#include "io/safetensors.hpp"
#include "model/expert_tensors.hpp"
#include "model/init.hpp"
#include "model/loader.hpp"
#include "model/presets.hpp"
#include "model/quantized.hpp"
#include "support/config_fields.hpp"
#include "support/support.hpp"

namespace vktrain {
namespace {

// Layers 0 and 2 of 3 experts (F 8), layer 1 dense.
io::ModelConfig small_moe() {
  return io::parse_model_config(R"({"architectures": ["Qwen3MoeForCausalLM"],
      "model_type": "qwen3_moe", "vocab_size": 20, "hidden_size": 12, "intermediate_size": 10,
      "num_hidden_layers": 3, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 6,
      "num_experts": 3, "num_experts_per_tok": 2, "moe_intermediate_size": 8,
      "mlp_only_layers": [1]})",
                                "small moe");
}

std::map<std::string, std::vector<float>> read_all(const io::ModelConfig& config,
                                                   const std::string& dir) {
  io::ModelSource source(dir);
  std::map<std::string, std::vector<float>> out;
  model::read_base_weights(
      config, source, [](const std::string&) { return true; },
      [&](const model::ParameterSpec& spec, std::vector<float> values) {
        out[spec.name] = std::move(values);
      });
  return out;
}

// A directory holding `tensors` of the small model's initial weights (f32).
void write_directory(const std::string& dir, const io::ModelConfig& config,
                     const std::vector<model::HubTensor>& tensors) {
  const auto specs = model::base_parameters(config);
  std::filesystem::create_directories(dir);
  io::write_model_config(dir + "/config.json", config, DType::f32);
  std::vector<io::NamedShape> shapes;
  for (const auto& t : tensors) shapes.push_back({t.name, t.shape});
  io::write_model_safetensors(
      dir + "/model.safetensors", shapes,
      model::hub_values(tensors, [&](size_t i) { return model::initial_values(config, specs[i], 3); }),
      DType::f32);
}

std::string load_error(const io::ModelConfig& config, const std::string& dir) {
  return test::error_message([&] { read_all(config, dir); });
}

TEST(ExpertTensors, InitWritesTheHubsPerExpertTensorsThatLoadBackToTheSameWeights) {
  test::TempDir dir;
  const std::string out = dir.file("model");
  cli::run_init({.family = "qwen3_moe", .size = "tiny", .out = out, .seed = 5, .dtype = "f32",
                 .vocab = 100});
  const io::ModelConfig config = io::read_model_config(out + "/config.json");
  const std::vector<std::string> names = io::Checkpoint(out).names();
  auto has = [&](const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  EXPECT_TRUE(has("model.layers.3.mlp.experts.7.gate_proj.weight"));
  EXPECT_TRUE(has("model.layers.0.mlp.experts.0.down_proj.weight"));
  EXPECT_TRUE(has("model.layers.0.mlp.gate.weight"));
  EXPECT_FALSE(has(model::layer_name(0, arch::hf::kExpertsGateUp)));
  const auto loaded = read_all(config, out);
  for (const auto& spec : model::base_parameters(config))
    EXPECT_EQ(loaded.at(spec.name), model::initial_values(config, spec, 5)) << spec.name;
}

TEST(ExpertTensors, TransformersFusedExpertsLoadAsTheHubsDo) {
  const io::ModelConfig config = small_moe();
  const auto specs = model::base_parameters(config);
  test::TempDir dir;
  std::vector<model::HubTensor> fused;
  for (size_t i = 0; i < specs.size(); ++i) fused.push_back({specs[i].name, specs[i].shape, i, 0});
  write_directory(dir.file("fused"), config, fused);
  write_directory(dir.file("hub"), config, model::hub_tensors(config, specs));
  const auto from_fused = read_all(config, dir.file("fused")), from_hub = read_all(config, dir.file("hub"));
  for (const auto& spec : specs) {
    EXPECT_EQ(from_fused.at(spec.name), model::initial_values(config, spec, 3)) << spec.name;
    EXPECT_EQ(from_hub.at(spec.name), from_fused.at(spec.name)) << spec.name;
  }
  // Expert 1's up rows are rows [F, 2F) of its slice of the fused gate_up.
  const auto gate_up = std::find_if(specs.begin(), specs.end(), [](const auto& s) {
    return s.name.ends_with(arch::hf::kExpertsGateUp);
  });
  const auto pieces = model::expert_pieces(config, *gate_up);
  ASSERT_EQ(pieces.size(), 6u);
  EXPECT_EQ(pieces[3].name, "model.layers.0.mlp.experts.1.up_proj.weight");
  EXPECT_EQ(pieces[3].offset, uint64_t(1 * 16 * 12 + 8 * 12));
}

TEST(ExpertTensors, ExpertsThatDisagreeWithTheConfigAreOneErrorNamingTheTensor) {
  const io::ModelConfig config = small_moe();
  const auto hub = model::hub_tensors(config, model::base_parameters(config));
  test::TempDir dir;
  auto expect = [&](const std::string& name, const std::vector<model::HubTensor>& tensors,
                    const std::string& needle) {
    write_directory(dir.file(name), config, tensors);
    const std::string message = load_error(config, dir.file(name));
    EXPECT_NE(message.find("[model] " + dir.file(name) + ": " + needle), std::string::npos)
        << message;
  };
  auto missing = hub;
  std::erase_if(missing, [](const auto& t) { return t.name == "model.layers.2.mlp.experts.1.up_proj.weight"; });
  expect("missing", missing,
         "the checkpoint has neither model.layers.2.mlp.experts.gate_up_proj nor "
         "model.layers.2.mlp.experts.1.up_proj.weight (the config says 3 experts)");
  auto extra = hub;  // a fourth expert the config does not have
  extra.push_back({"model.layers.0.mlp.experts.3.down_proj.weight", {12, 8}, 0, 0});
  expect("extra", extra,
         "tensor model.layers.0.mlp.experts.3.down_proj.weight is no expert weight of this "
         "config (3 experts of 8 per layer)");
  auto dense_layer = hub;  // experts in the layer mlp_only_layers keeps dense
  dense_layer.push_back({"model.layers.1.mlp.experts.0.down_proj.weight", {12, 8}, 0, 0});
  expect("dense", dense_layer, "tensor model.layers.1.mlp.experts.0.down_proj.weight is no expert");
  auto misshapen = hub;
  for (auto& t : misshapen)
    if (t.name == "model.layers.0.mlp.experts.2.gate_proj.weight") t.shape = {8, 11};
  expect("shape", misshapen,
         "tensor model.layers.0.mlp.experts.2.gate_proj.weight has shape [8, 11], the config "
         "implies [8, 12]");
}

// `vktrain export` of a tiny model of the family as GGUF (llama.cpp's ffn_gate_inp and 3-D
// ffn_{gate,up,down}_exps with expert_count / expert_used_count) and as a Hugging Face directory:
// both load back to the same config and weights, bit for bit in f32. Returns the GGUF's path.
std::string expect_exports_load_back(const test::TempDir& dir, const std::string& family) {
  const std::string model_dir = dir.file("model");
  cli::run_init({.family = family, .size = "tiny", .out = model_dir, .seed = 2, .dtype = "f32",
                 .vocab = 64});
  cli::run_export({.model = model_dir, .out = dir.file("m.gguf"), .format = "gguf",
                   .gguf_type = "f32"});
  cli::run_export({.model = model_dir, .out = dir.file("hf"), .format = "hf"});
  const io::ModelConfig config = io::read_model_config(model_dir + "/config.json");
  const auto original = read_all(config, model_dir);
  for (const std::string& path : {dir.file("m.gguf"), dir.file("hf")}) {
    SCOPED_TRACE(path);
    io::ModelSource source(path);
    EXPECT_EQ(test::config_differences(config, source.config()), std::vector<std::string>{});
    EXPECT_EQ(read_all(config, path), original);
  }
  return dir.file("m.gguf");
}

// qwen3moe: the experts' F as expert_feed_forward_length.
TEST(ExpertTensors, ExportedGgufAndHuggingFaceDirectoryLoadToTheSameModel) {
  test::TempDir dir;
  io::ModelSource gguf(expect_exports_load_back(dir, "qwen3_moe"));
  const io::GgufTensorInfo& gate = gguf.gguf().tensor("blk.1.ffn_gate_exps.weight");
  EXPECT_EQ(gate.dims, (std::vector<uint64_t>{128, 64, 8}));  // ggml's order: C, F, E
  EXPECT_EQ(gguf.gguf().tensor("blk.1.ffn_down_exps.weight").dims,
            (std::vector<uint64_t>{64, 128, 8}));
  EXPECT_EQ(gguf.gguf().tensor("blk.1.ffn_gate_inp.weight").dims, (std::vector<uint64_t>{128, 8}));
}

// Mixtral's hub checkpoints: block_sparse_moe's gate and experts w1 (gate), w3 (up), w2 (down),
// which transformers 5 renames on load; llama.cpp's "llama" with expert_count and the experts'
// F as feed_forward_length.
TEST(ExpertTensors, MixtralWritesAndReadsTheHubsBlockSparseMoeNames) {
  test::TempDir dir;
  io::ModelSource gguf(expect_exports_load_back(dir, "mixtral"));
  EXPECT_EQ(gguf.config().family, io::Family::mixtral);
  EXPECT_EQ(gguf.gguf().get<std::string>("general.architecture"), "llama");
  EXPECT_EQ(gguf.gguf().get_unsigned("llama.expert_count"), 8u);
  EXPECT_EQ(gguf.gguf().get_unsigned("llama.feed_forward_length"), 64u);
  EXPECT_EQ(gguf.gguf().find("llama.expert_feed_forward_length"), nullptr);
  EXPECT_EQ(gguf.gguf().tensor("blk.3.ffn_up_exps.weight").dims,
            (std::vector<uint64_t>{128, 64, 8}));

  const std::string model_dir = dir.file("model");
  const io::ModelConfig config = io::read_model_config(model_dir + "/config.json");
  for (const std::string& path : {model_dir, dir.file("hf")}) {
    const io::Checkpoint checkpoint(path);
    SCOPED_TRACE(path);
    EXPECT_TRUE(checkpoint.contains("model.layers.3.block_sparse_moe.experts.7.w1.weight"));
    EXPECT_EQ(checkpoint.entry("model.layers.0.block_sparse_moe.experts.0.w2.weight").shape,
              (std::vector<int64_t>{128, 64}));
    EXPECT_EQ(checkpoint.entry("model.layers.0.block_sparse_moe.experts.5.w3.weight").shape,
              (std::vector<int64_t>{64, 128}));
    EXPECT_EQ(checkpoint.entry("model.layers.2.block_sparse_moe.gate.weight").shape,
              (std::vector<int64_t>{8, 128}));
    for (const std::string& name : checkpoint.names())
      EXPECT_EQ(name.find(".mlp."), std::string::npos) << name;
  }
  // A ninth expert under the hub's names disagrees with the config.
  const auto specs = model::base_parameters(config);
  auto extra = model::hub_tensors(config, specs);
  extra.push_back({"model.layers.1.block_sparse_moe.experts.8.w2.weight", {128, 64}, 0, 0});
  write_directory(dir.file("extra"), config, extra);
  EXPECT_NE(load_error(config, dir.file("extra"))
                .find("tensor model.layers.1.block_sparse_moe.experts.8.w2.weight is no expert "
                      "weight of this config (8 experts of 64 per layer)"),
            std::string::npos);
  // transformers 5's fused names (what it holds in memory) load as well.
  std::vector<model::HubTensor> fused;
  for (size_t i = 0; i < specs.size(); ++i) fused.push_back({specs[i].name, specs[i].shape, i, 0});
  write_directory(dir.file("fused"), config, fused);
  const auto from_fused = read_all(config, dir.file("fused"));
  for (const auto& spec : specs)
    EXPECT_EQ(from_fused.at(spec.name), model::initial_values(config, spec, 3)) << spec.name;
}

// gpt-oss's checkpoint order by hand, E 1, C 2, F 2: gate_up [1, 2, 4] holds x @ W with gate
// and up alternating by column (value 4c + j at row c, column j), its bias [1, 4] alike, down
// [1, F, C]; the device holds gate rows, then up rows, of [1, 2F, C], and down [1, C, F].
TEST(ExpertTensors, GptOssCheckpointOrderIsTransposedAndDeinterleavedByHand) {
  using Values = std::vector<float>;
  const model::ExpertPiece gate_up{"gate_up", {1, 2, 4}, 0,
                                   model::HubOrder::transposed_interleaved};
  const model::ExpertPiece bias{"bias", {1, 4}, 0, model::HubOrder::interleaved};
  const model::ExpertPiece down{"down", {1, 2, 2}, 0, model::HubOrder::transposed};
  const Values hub = {0, 1, 2, 3, 4, 5, 6, 7};
  //                  gate f=0  gate f=1  up f=0  up f=1, each over c = 0, 1
  const Values device = {0, 4, 2, 6, 1, 5, 3, 7};
  EXPECT_EQ(model::hub_to_device(gate_up, hub), device);
  EXPECT_EQ(model::device_to_hub(gate_up, device), hub);
  EXPECT_EQ(model::hub_to_device(bias, {10, 11, 12, 13}), (Values{10, 12, 11, 13}));
  EXPECT_EQ(model::device_to_hub(bias, {10, 12, 11, 13}), (Values{10, 11, 12, 13}));
  EXPECT_EQ(model::hub_to_device(down, {0, 1, 2, 3}), (Values{0, 2, 1, 3}));
  EXPECT_EQ(model::device_to_hub(down, {0, 2, 1, 3}), (Values{0, 1, 2, 3}));
  EXPECT_NE(test::error_message([&] { model::hub_to_device(down, {0, 1, 2}); })
                .find("[model] down: 3 values for a tensor of 4"),
            std::string::npos);
}

// A tiny gpt_oss written by `vktrain init` holds transformers' tensors ([E, C, 2F] gate_up
// interleaved, [E, F, C] down, sinks, biases, the router under its own name); exported again as
// a Hugging Face directory every tensor is the same bytes, and the GGUF (llama.cpp's halves)
// loads back to the same weights.
TEST(ExpertTensors, GptOssCheckpointRoundTripsByteExact) {
  test::TempDir dir;
  expect_exports_load_back(dir, "gpt_oss");
  const io::Checkpoint original(dir.file("model")), exported(dir.file("hf"));
  EXPECT_EQ(original.entry("model.layers.0.mlp.experts.gate_up_proj").shape,
            (std::vector<int64_t>{8, 128, 128}));  // E, C, 2F
  EXPECT_EQ(original.entry("model.layers.0.mlp.experts.down_proj").shape,
            (std::vector<int64_t>{8, 64, 128}));  // E, F, C
  EXPECT_EQ(original.entry("model.layers.0.mlp.experts.gate_up_proj_bias").shape,
            (std::vector<int64_t>{8, 128}));
  EXPECT_EQ(original.entry("model.layers.3.self_attn.sinks").shape, (std::vector<int64_t>{4}));
  EXPECT_TRUE(original.contains("model.layers.1.mlp.router.bias"));
  EXPECT_TRUE(original.contains("model.layers.1.self_attn.o_proj.bias"));
  EXPECT_EQ(exported.names(), original.names());
  for (const std::string& name : original.names()) {
    const auto a = original.data(name), b = exported.data(name);
    EXPECT_TRUE(a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin())) << name;
  }
}

// GGUF has no key for the SwiGLU clamp (llama.cpp's gpt-oss graph holds 7): another one is
// refused, never written to be read back as 7.
TEST(ExpertTensors, GptOssGgufRefusesAClampLlamaCppDoesNotHave) {
  io::ModelConfig config = model::model_preset("gpt_oss", "tiny");
  EXPECT_NO_THROW(io::gguf_model_file(config, io::GgmlType::f32));
  config.moe.swiglu_limit = 2;
  EXPECT_EQ(test::error_message([&] { io::gguf_model_file(config, io::GgmlType::f32); }),
            "[gguf] swiglu_limit 2 cannot be written to GGUF: llama.cpp's gpt-oss graph clamps "
            "the experts at 7; export --format hf");
}

// gpt-oss's experts as the hub's checkpoints hold them, MXFP4 blocks and scales
// (io/quant_hub_mxfp4.hpp): a tiny gpt_oss directory whose gate_up_proj and down_proj are written
// from known codes and scales (all 16 codes, the scales 0, 127 and 254) loads to exactly the
// format's values in the device's order (gate_up de-interleaved), every other tensor unchanged;
// the note names what dequantizing costs; each way a pair can be broken is one error naming the
// directory and the tensor.
// The OCP MX format's E2M1 values by code, written out as the format defines them.
constexpr float kFp4[16] = {0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,  4.0f,  6.0f,
                            -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};
constexpr uint8_t kScales[] = {0, 127, 254, 120, 131};

struct StoredTensor {
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<std::byte> bytes;
};
using Tensors = std::map<std::string, StoredTensor>;

// A weight [E, R, K] (the file's rows) as transformers' MXFP4: value k of row r of expert e has
// code (e + 3 r + k) % 16, group g the scale kScales[(e + r + g) % 5].
uint8_t code(int64_t e, int64_t r, int64_t k) { return uint8_t((e + 3 * r + k) % 16); }
uint8_t scale(int64_t e, int64_t r, int64_t g) { return kScales[(e + r + g) % 5]; }

void put_mxfp4(Tensors& tensors, const std::string& name, int64_t E, int64_t R, int64_t K) {
  StoredTensor blocks{"U8", {E, R, K / 32, 16}, {}}, scales{"U8", {E, R, K / 32}, {}};
  for (int64_t e = 0; e < E; ++e)
    for (int64_t r = 0; r < R; ++r)
      for (int64_t g = 0; g < K / 32; ++g) {
        scales.bytes.push_back(std::byte(scale(e, r, g)));
        for (int64_t j = 0; j < 16; ++j)
          blocks.bytes.push_back(std::byte(code(e, r, 32 * g + 2 * j) |
                                           code(e, r, 32 * g + 2 * j + 1) << 4));
      }
  tensors.erase(name);
  tensors[name + "_blocks"] = std::move(blocks);
  tensors[name + "_scales"] = std::move(scales);
}

// The device's [E, R, K] for that weight: gate_up's device row d is file row 2d (gate, d < R/2)
// or 2(d - R/2) + 1 (up).
std::vector<float> expected(int64_t E, int64_t R, int64_t K, bool gate_up) {
  std::vector<float> values;
  for (int64_t e = 0; e < E; ++e)
    for (int64_t d = 0; d < R; ++d) {
      const int64_t r = !gate_up ? d : d < R / 2 ? 2 * d : 2 * (d - R / 2) + 1;
      for (int64_t k = 0; k < K; ++k)
        values.push_back(std::ldexp(kFp4[code(e, r, k)], int(scale(e, r, k / 32)) - 127));
    }
  return values;
}

Tensors read_tensors(const std::string& dir) {
  const io::Checkpoint checkpoint(dir);
  Tensors tensors;
  for (const std::string& name : checkpoint.names()) {
    const auto data = checkpoint.data(name);
    tensors[name] = {checkpoint.entry(name).dtype, checkpoint.entry(name).shape,
                     {data.begin(), data.end()}};
  }
  return tensors;
}

void write_tensors(const std::string& dir, const std::string& config_from,
                   const Tensors& tensors) {
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(config_from + "/config.json", dir + "/config.json");
  std::vector<io::SafetensorsTensor> list;
  for (const auto& [name, t] : tensors) list.push_back({name, t.dtype, t.shape, t.bytes});
  io::write_safetensors(dir + "/model.safetensors", list);
}

struct Mxfp4Directory {
  test::TempDir dir;
  io::ModelConfig config;
  Tensors dense, mxfp4;  // init's tensors, and with every layer's experts MXFP4
  int64_t E = 0, C = 0, F = 0;
  Mxfp4Directory() {
    cli::run_init({.family = "gpt_oss", .size = "tiny", .out = dir.file("dense"), .seed = 2,
                   .dtype = "f32", .vocab = 64});
    config = io::read_model_config(dir.file("dense") + "/config.json");
    E = config.moe.experts, C = config.hidden_size, F = config.moe.intermediate_size;
    dense = mxfp4 = read_tensors(dir.file("dense"));
    for (int64_t layer = 0; layer < config.num_layers; ++layer) {
      put_mxfp4(mxfp4, model::layer_name(layer, arch::hf::kExpertsGateUp), E, 2 * F, C);
      put_mxfp4(mxfp4, model::layer_name(layer, arch::hf::kExpertsDown), E, C, F);
    }
  }
  // The error of loading the MXFP4 directory changed by `change`, written as `name`.
  std::string error(const std::string& name, const std::function<void(Tensors&)>& change) {
    Tensors tensors = mxfp4;
    change(tensors);
    write_tensors(dir.file(name), dir.file("dense"), tensors);
    return load_error(config, dir.file(name));
  }
};

TEST(ExpertTensors, GptOssMxfp4HubCheckpointLoadsToTheFormatsValuesInTheDevicesOrder) {
  Mxfp4Directory d;
  write_tensors(d.dir.file("mxfp4"), d.dir.file("dense"), d.mxfp4);
  const auto loaded = read_all(d.config, d.dir.file("mxfp4"));
  const auto dense = read_all(d.config, d.dir.file("dense"));
  const std::vector<float> gate_up = expected(d.E, 2 * d.F, d.C, true);
  const std::vector<float> down = expected(d.E, d.C, d.F, false);
  for (const auto& [name, values] : dense) {
    SCOPED_TRACE(name);
    const std::vector<float>& got = loaded.at(name);
    const bool is_gate_up = name.ends_with(arch::hf::kExpertsGateUp);
    if (!is_gate_up && !name.ends_with(arch::hf::kExpertsDown)) {
      EXPECT_EQ(got, values);
      continue;
    }
    const std::vector<float>& want = is_gate_up ? gate_up : down;
    ASSERT_EQ(got.size(), want.size());
    size_t differing = 0;  // bit for bit: -0, subnormals and infinities included
    for (size_t i = 0; i < got.size(); ++i)
      differing += std::bit_cast<uint32_t>(got[i]) != std::bit_cast<uint32_t>(want[i]);
    EXPECT_EQ(differing, 0u);
  }
  // Expert 1's gate row 0 is file row 0, its up row 0 file row 1: codes (1 + 3 r + k) % 16 at
  // scale kScales[(1 + r) % 5] for group 0.
  const std::vector<float>& got = loaded.at(model::layer_name(2, arch::hf::kExpertsGateUp));
  const size_t up0 = size_t((2 * d.F + d.F) * d.C);  // expert 1, row F
  EXPECT_EQ(got[up0 + 0], std::ldexp(kFp4[4], 254 - 127));  // code 4 (2.0) at 254: inf
  EXPECT_TRUE(std::isinf(got[up0 + 0]));
  EXPECT_EQ(got[size_t(2 * d.F * d.C) + 3], std::ldexp(kFp4[4], 0));  // gate row 0: code 4 at 127

  // The run is told which tensors were MXFP4 and what holding them in bf16 costs.
  io::ModelSource source(d.dir.file("mxfp4"));
  const auto notes = model::choose_quantized_base(d.config, &source, {}, DType::bf16).notes;
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0], d.dir.file("mxfp4") +
                          ": 8 expert tensors are MXFP4 (e.g. "
                          "model.layers.0.mlp.experts.gate_up_proj_blocks), which the device "
                          "cannot hold as they are; they are dequantized to bf16 on load, 0.00 "
                          "GiB more device memory");
  io::ModelSource dense_source(d.dir.file("dense"));
  EXPECT_TRUE(model::choose_quantized_base(d.config, &dense_source, {}, DType::bf16).notes.empty());
}

TEST(ExpertTensors, GptOssMxfp4BrokenBlocksAndScalesAreOneErrorNamingTheTensor) {
  Mxfp4Directory d;
  const std::string down = model::layer_name(1, arch::hf::kExpertsDown);
  auto expect = [&](const std::string& name, const std::function<void(Tensors&)>& change,
                    const std::string& needle) {
    const std::string message = d.error(name, change);
    EXPECT_NE(message.find(needle), std::string::npos) << message;
  };
  const std::string dir = d.dir.file("");
  expect("no_scales", [&](Tensors& t) { t.erase(down + "_scales"); },
         "[model] " + dir + "no_scales: tensor " + down + "_blocks has no partner " + down +
             "_scales: MXFP4 weights come as blocks and scales");
  expect("no_blocks", [&](Tensors& t) { t.erase(down + "_blocks"); },
         "tensor " + down + "_scales has no partner " + down + "_blocks");
  expect("scales_shape", [&](Tensors& t) {
           t[down + "_scales"].shape = {d.E, d.C / 2, 2 * d.F / 32};
         },
         "[model] " + dir + "scales_shape: tensor " + down + "_scales has shape [8, 64, 4], the "
         "config implies [8, 128, 2]");
  expect("blocks_dtype", [&](Tensors& t) { t[down + "_blocks"].dtype = "I8"; },
         "tensor " + down + "_blocks is I8; MXFP4 blocks and scales are U8");
  expect("nan_scale", [&](Tensors& t) { t[down + "_scales"].bytes[5] = std::byte(255); },
         "[model] " + dir + "nan_scale: tensor " + down + "_scales: group 5 has the E8M0 scale "
         "255, which MXFP4 defines as NaN");
  // Biases are never MXFP4: a pair under a bias's name is no tensor of this config.
  expect("bias_blocks", [&](Tensors& t) {
           t[model::layer_name(1, arch::hf::kExpertsGateUpBias) + "_blocks"] = t[down + "_scales"];
         },
         "tensor " + model::layer_name(1, arch::hf::kExpertsGateUpBias) +
             "_blocks is no expert weight of this config");
  // A pair beside the tensor itself leaves the weight ambiguous.
  expect("both", [&](Tensors& t) { t[down] = d.dense.at(down); },
         "[model] " + dir + "both: the checkpoint holds " + down + " both as it is and as MXFP4 (" +
             down + "_blocks, " + down + "_scales); keep one");
}

// A count that overflows (a blocks shape of 2^96 bytes) fails while the file is opened, naming
// the file and the tensor.
TEST(ExpertTensors, GptOssMxfp4BlocksShapeThatOverflowsIsOneErrorNamingTheTensor) {
  test::TempDir dir;
  const std::string name = model::layer_name(0, arch::hf::kExpertsDown) + "_blocks";
  const std::string header = "{\"" + name +
                             "\": {\"dtype\": \"U8\", \"shape\": [4294967296, 4294967296, "
                             "4294967296, 16], \"data_offsets\": [0, 0]}}";
  std::ofstream out(dir.file("model.safetensors"), std::ios::binary);
  const uint64_t size = header.size();
  out.write(reinterpret_cast<const char*>(&size), 8);
  out << header;
  out.close();
  const std::string message = test::error_message([&] { io::Checkpoint checkpoint(dir.file("")); });
  EXPECT_NE(message.find("[safetensors] " + dir.file("model.safetensors") + ": tensor '" + name +
                         "' has a shape too large to address"),
            std::string::npos)
      << message;
}

}  // namespace
}  // namespace vktrain
