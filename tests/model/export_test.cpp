// `vktrain export` end to end through run_export, on the llama fixture (tests/fixtures/models)
// with a random adapter on every projection: each output loads with our own loader
// (model/loader.hpp) to what it should hold, and each kind of bad input is one error.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "arch/tensor_names.hpp"
#include "cli/export.hpp"
#include "cli/init.hpp"
#include "data/model_text.hpp"
#include "io/gguf.hpp"
#include "io/gguf_export.hpp"
#include "io/gguf_names.hpp"
#include "io/peft_adapter.hpp"
#include "io/quant.hpp"
#include "io/quant_mix.hpp"
#include "io/checkpoint.hpp"
#include "model/adapter_merge.hpp"
#include "model/expert_tensors.hpp"
#include "model/layout.hpp"
#include "model/loader.hpp"
#include "model/pretrained.hpp"
#include "model/tiny_models.hpp"
#include "reference/moe.hpp"
#include "support/config_fields.hpp"
#include "support/support.hpp"
#include "train/checkpoint_files.hpp"
#include "train/optimizer.hpp"

namespace vktrain {
namespace {

namespace fs = std::filesystem;

io::PeftAdapter random_adapter(const io::ModelConfig& config,
                               const std::string& targets = "all-linear") {
  io::PeftAdapter a;
  a.lora.rank = 4;
  a.lora.alpha = 8;
  a.lora.targets = model::parse_lora_targets(targets);
  uint32_t seed = 11;
  for (const auto& spec : model::lora_parameters(config, a.lora)) {
    a.shapes[spec.name] = model::peft_shape(spec);
    a.weights[spec.name] = test::random_values(spec.elements(), seed++, DType::f32, 0.1f);
  }
  return a;
}

std::map<std::string, std::vector<float>> weights_of(const std::string& path) {
  const io::ModelConfig config = io::ModelSource(path).config();
  std::map<std::string, std::vector<float>> out;
  model::read_base_weights(
      config, io::ModelSource(path), [](const std::string&) { return true; },
      [&](const model::ParameterSpec& spec, std::vector<float> v) { out[spec.name] = std::move(v); });
  return out;
}

std::string run(const cli::ExportOptions& o) {
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  cli::run_export(o);
  testing::internal::GetCapturedStderr();
  return testing::internal::GetCapturedStdout();
}

std::string fixture(const std::string& family) {
  return std::string(VKTRAIN_FIXTURES) + "/models/" + family;
}

// The llama fixture with a random adapter in adapter_dir, unless use() picks another family.
struct ExportFixture : testing::Test {
  test::TempDir dir;
  std::string model_dir;
  io::ModelConfig config;
  io::PeftAdapter adapter;
  std::string adapter_dir;
  void SetUp() override { use("llama"); }
  void use(const std::string& family) {
    model_dir = fixture(family);
    config = io::ModelSource(model_dir).config();
    adapter = random_adapter(config);
    adapter_dir = dir.file("adapter-" + family);
    io::write_peft_adapter(adapter_dir, adapter);
  }
  cli::ExportOptions options(const std::string& format, const std::string& out) const {
    cli::ExportOptions o;
    o.model = model_dir;
    o.adapter = adapter_dir;
    o.out = dir.file(out);
    o.format = format;
    return o;
  }
};

TEST_F(ExportFixture, MergedHuggingFaceModelHoldsWPlusScaledBA) {
  EXPECT_NE(run(options("hf", "merged")).find("merged into the model as hf"), std::string::npos);
  EXPECT_EQ(test::config_differences(config, io::ModelSource(dir.file("merged")).config()),
            std::vector<std::string>{});
  const auto base = weights_of(model_dir), merged = weights_of(dir.file("merged"));
  ASSERT_EQ(merged.size(), base.size());
  const double s = 8.0 / 4;
  int adapted = 0;
  for (const auto& [name, w] : base) {
    SCOPED_TRACE(name);
    const std::string module = name.substr(0, name.size() - std::string(".weight").size());
    auto a = adapter.weights.find(module + ".lora_A.weight");
    if (a == adapter.weights.end()) {
      EXPECT_EQ(merged.at(name), w);
      continue;
    }
    ++adapted;
    const auto& b = adapter.weights.at(module + ".lora_B.weight");
    const int64_t in = adapter.shapes.at(a->first)[1], out = int64_t(w.size()) / in;
    std::vector<double> want(w.size());
    for (int64_t o = 0; o < out; ++o)
      for (int64_t i = 0; i < in; ++i) {
        double ba = 0;
        for (int64_t r = 0; r < 4; ++r) ba += double(b[size_t(o * 4 + r)]) * a->second[size_t(r * in + i)];
        want[size_t(o * in + i)] = w[size_t(o * in + i)] + s * ba;
      }
    EXPECT_LT(test::relative_error(merged.at(name), want), 1e-6);
    EXPECT_NE(merged.at(name), w);
  }
  EXPECT_EQ(adapted, 7 * config.num_layers);
}

// The merged GGUF holds quantize(W + sBA): it loads to exactly dequantize(quantize(.)) of the
// merged Hugging Face weights, Q/K permutation (llama), biases (qwen2) and norm shift (gemma3)
// included, for every fixture family.
TEST_F(ExportFixture, MergedGgufLoadsToTheQuantizedMergedWeights) {
  for (const std::string family : {"llama", "qwen2", "qwen3", "gemma3"}) {
    use(family);
    run(options("hf", "merged-" + family));
    const auto merged = weights_of(dir.file("merged-" + family));
    for (const std::string type : {"f16", "q8_0"}) {
      SCOPED_TRACE(family + " " + type);
      auto o = options("gguf", "merged-" + family + "-" + type + ".gguf");
      o.gguf_type = type;
      run(o);
      auto read = io::ModelSource(o.out).config();
      // GGUF cannot hold gemma3's query_pre_attn_scalar: llama.cpp's rule (head_dim) applies.
      if (config.family == io::Family::gemma3) read.query_pre_attn_scalar = config.query_pre_attn_scalar;
      EXPECT_EQ(test::config_differences(config, read), std::vector<std::string>{});
      const auto got = weights_of(o.out);
      ASSERT_EQ(got.size(), merged.size());
      const io::GgmlType ggml = type == "f16" ? io::GgmlType::f16 : io::GgmlType::q8_0;
      for (const auto& spec : model::base_parameters(config)) {
        SCOPED_TRACE(spec.name);
        std::vector<float> want = merged.at(spec.name);
        if (spec.matrix()) want = io::dequantize(io::quantize(want, ggml), ggml, want.size());
        // 1 + w rounds to f32 in the file; the loader gives back (1 + w) - 1.
        if (io::shifts_norm(config.family, spec.name)) io::norm_to_gguf(want), io::norm_from_gguf(want);
        EXPECT_EQ(got.at(spec.name), want);
      }
    }
  }
}

TEST_F(ExportFixture, GgufLoraAdapterFitsTheMergedGgufAsLlamaCppChecks) {
  auto o = options("gguf", "model.gguf");
  run(o);
  run(options("gguf-lora", "lora.gguf"));
  io::GgufReader model(dir.file("model.gguf")), lora(dir.file("lora.gguf"));
  EXPECT_EQ(lora.get<std::string>("general.type"), "adapter");
  EXPECT_EQ(lora.get<std::string>("general.architecture"),
            model.get<std::string>("general.architecture"));
  EXPECT_EQ(lora.tensor_names().size(), 2u * 7 * size_t(config.num_layers));
  for (const auto& name : lora.tensor_names()) {
    if (!name.ends_with(".lora_a")) continue;
    const std::string base = name.substr(0, name.size() - 7);
    const auto& w = model.tensor(base).dims;
    const auto& a = lora.tensor(name).dims;
    const auto& b = lora.tensor(base + ".lora_b").dims;
    EXPECT_EQ(w[0], a[0]) << base;
    EXPECT_EQ(w[1], b[1]) << base;
    EXPECT_EQ(a[1], b[0]) << base;
  }
}

TEST_F(ExportFixture, PeftRoundTrip) {
  run(options("peft", "peft"));
  const auto back = io::read_peft_adapter(dir.file("peft"));
  EXPECT_EQ(back.weights, adapter.weights);
  EXPECT_EQ(back.shapes, adapter.shapes);
  EXPECT_EQ(back.lora.rank, 4);
  EXPECT_EQ(back.lora.alpha, 8);
  EXPECT_EQ(back.lora.targets, adapter.lora.targets);
}

TEST_F(ExportFixture, BadInputIsOneErrorAndWritesNothing) {
  auto o = options("hf", "never");
  o.adapter = dir.file("absent");
  EXPECT_NE(test::error_message([&] { cli::run_export(o); }).find("--adapter " + o.adapter + " is not a directory"),
            std::string::npos);

  // An adapter trained on a model with a wider feed-forward block.
  io::ModelConfig wider = config;
  wider.intermediate_size = 128;
  io::write_peft_adapter(dir.file("other-adapter"), random_adapter(wider));
  o = options("hf", "never");
  o.adapter = dir.file("other-adapter");
  EXPECT_NE(test::error_message([&] { cli::run_export(o); })
                .find("mlp.gate_proj.lora_B.weight has shape [128, 4], the model implies [96, 4]"),
            std::string::npos);

  // An --out that cannot be created: below a file.
  const std::string file = dir.write("file", "not a directory");
  for (const std::string format : {"peft", "gguf-lora", "hf", "gguf"}) {
    SCOPED_TRACE(format);
    o = options(format, "never");
    o.out = file + "/out";
    EXPECT_NE(test::error_message([&] { cli::run_export(o); }).find(file + "/out"), std::string::npos);
  }
  o = options("gguf", "never");
  o.gguf_type = "q4_0";
  EXPECT_NE(test::error_message([&] { cli::run_export(o); }).find("--gguf-type 'q4_0'"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(dir.file("never")));
}

// A quantized GGUF base (QLoRA): the tiny llama whose rows are 256 values, in llama-quantize's
// Q4_K_M mix (Q4_K and Q6_K matrices, F32 norms, rope_freqs), with a random adapter.
struct QuantizedBaseExport : testing::Test {
  test::TempDir dir;
  io::ModelConfig config = test::tiny_block_config("llama");
  io::PeftAdapter adapter = random_adapter(config);
  std::string base = dir.file("base.gguf"), adapter_dir = dir.file("adapter");
  void SetUp() override {
    auto weights = test::random_weights(model::base_parameters(config), 29);
    io::GgufModelFile file = io::gguf_model_file(config);
    for (const auto& spec : model::base_parameters(config)) {
      const auto q = io::tensor_quantization(io::QuantizeMix::q4_k_m, config, spec.name, spec.shape);
      io::add_hf_weight(file, config, spec.name, spec.shape, weights.at(spec.name), q.type);
    }
    file.write(base);
    io::write_peft_adapter(adapter_dir, adapter);
  }
  cli::ExportOptions options(const std::string& format, const std::string& out) const {
    return {.model = base, .adapter = adapter_dir, .out = dir.file(out), .format = format};
  }
};

// Each tensor keeps its type; an adapted matrix holds quantize(dequantize(W) + s B A) in the
// file's row order (llama's q/k rows permuted), the rest are the base's bytes.
TEST_F(QuantizedBaseExport, MergedGgufKeepsTheBaseTypes) {
  const auto o = options("gguf", "merged.gguf");
  EXPECT_NE(run(o).find("merged into the model as gguf"), std::string::npos);
  io::GgufReader in(base), out(o.out);
  EXPECT_EQ(out.metadata(), in.metadata());
  ASSERT_EQ(out.tensor_names(), in.tensor_names());
  const auto dequantized = weights_of(base);  // Hugging Face order
  std::set<io::GgmlType> merged_types;
  for (const auto& name : in.tensor_names()) {
    SCOPED_TRACE(name);
    const io::GgufTensorInfo& info = in.tensor(name);
    ASSERT_EQ(out.tensor(name).type, info.type);
    ASSERT_EQ(out.tensor(name).dims, info.dims);
    const auto got = out.data(name), was = in.data(name);
    const std::string hf = name == "rope_freqs.weight" ? "" : io::gguf_to_hf_name(config.family, name);
    std::vector<float> w = hf.empty() ? std::vector<float>{} : dequantized.at(hf);
    if (hf.empty() || !model::merge_adapter(w, config, hf, adapter)) {
      EXPECT_TRUE(std::ranges::equal(got, was));
      continue;
    }
    merged_types.insert(info.type);
    std::vector<float> file_order = w;
    const bool q = hf.ends_with("q_proj.weight"), k = hf.ends_with("k_proj.weight");
    if (q || k)
      io::permute_qk_rows(std::as_writable_bytes(std::span(file_order)), std::as_bytes(std::span(w)),
                          q ? config.num_heads : config.num_kv_heads, info.dims[0] * sizeof(float));
    EXPECT_TRUE(std::ranges::equal(got, io::quantize(file_order, info.type)));
    EXPECT_FALSE(std::ranges::equal(got, was));
  }
  EXPECT_EQ(merged_types, (std::set<io::GgmlType>{io::GgmlType::q4_k, io::GgmlType::q6_k}));
}

// A quantized MoE base with an adapter on its experts: each GGUF expert tensor keeps its type
// and holds quantize(dequantize(W) + s B A), gate and up each their half of the fused gate_up's
// merge (done here in Hugging Face's order), down its own; the router is copied as it is.
TEST(QuantizedMoeExport, MergedGgufRequantizesTheExperts) {
  test::TempDir dir;
  const io::ModelConfig config = test::tiny_moe_block_config();
  const std::string base = dir.file("base.gguf"), adapter_dir = dir.file("adapter");
  test::write_moe_gguf(config, io::GgmlType::q4_k, 31, base);
  const io::PeftAdapter adapter = random_adapter(config, "q,experts");
  io::write_peft_adapter(adapter_dir, adapter);
  const cli::ExportOptions o{.model = base, .adapter = adapter_dir, .out = dir.file("merged.gguf"),
                             .format = "gguf"};
  run(o);
  io::GgufReader in(base), out(o.out);
  ASSERT_EQ(out.tensor_names(), in.tensor_names());
  auto merged = weights_of(base);  // Hugging Face order, gate_up fused
  std::set<std::string> adapted;
  for (auto& [name, w] : merged)
    if (model::merge_adapter(w, config, name, adapter)) adapted.insert(name);
  const std::string layer = model::layer_name(0, "");
  EXPECT_EQ(adapted.size(), 6u);  // q_proj and the two expert weights of both layers
  EXPECT_TRUE(adapted.count(layer + arch::hf::kExpertsDown));
  auto [gate, up] = model::split_gate_up(merged.at(layer + arch::hf::kExpertsGateUp),
                                         config.moe.experts);
  const std::map<std::string, std::vector<float>> experts = {
      {"blk.0.ffn_gate_exps.weight", gate},
      {"blk.0.ffn_up_exps.weight", up},
      {"blk.0.ffn_down_exps.weight", merged.at(layer + arch::hf::kExpertsDown)}};
  for (const auto& [name, w] : experts) {
    SCOPED_TRACE(name);
    ASSERT_EQ(out.tensor(name).type, io::GgmlType::q4_k);
    EXPECT_TRUE(std::ranges::equal(out.data(name), io::quantize(w, io::GgmlType::q4_k)));
    EXPECT_FALSE(std::ranges::equal(out.data(name), in.data(name)));
  }
  EXPECT_TRUE(std::ranges::equal(out.data("blk.0.ffn_gate_inp.weight"),
                                 in.data("blk.0.ffn_gate_inp.weight")));
}

// The merged Hugging Face model of a quantized base: the decoded weights plus s B A, in bf16.
TEST_F(QuantizedBaseExport, MergedHuggingFaceModelIsTheDecodedMergeInBf16) {
  const auto o = options("hf", "merged");
  run(o);
  io::Checkpoint checkpoint(o.out);
  EXPECT_EQ(checkpoint.entry(checkpoint.names().front()).dtype, "BF16");
  const auto got = weights_of(o.out);
  auto want = weights_of(base);
  ASSERT_EQ(got.size(), want.size());
  int adapted = 0;
  for (auto& [name, w] : want) {
    adapted += model::merge_adapter(w, config, name, adapter);
    EXPECT_EQ(got.at(name), io::dequantize(io::quantize(w, io::GgmlType::bf16), io::GgmlType::bf16,
                                           w.size()))
        << name;
  }
  EXPECT_EQ(adapted, 7 * config.num_layers);
}

// A quantized base cut short inside its last tensor's blocks: one error naming the file and the
// tensor, and nothing written.
TEST_F(QuantizedBaseExport, TruncatedQuantizedTensorIsOneError) {
  const auto size = fs::file_size(base);
  fs::resize_file(base, size - 100);
  const auto message = test::error_message([&] { cli::run_export(options("gguf", "never.gguf")); });
  EXPECT_NE(message.find("[gguf] " + base + ": tensor 'output.weight' data"), std::string::npos)
      << message;
  EXPECT_NE(message.find("(truncated file?)"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(dir.file("never.gguf")));
}

// Without --adapter, gguf and hf write the model itself (pre-trained or fully fine-tuned by
// vktrain, or a Hugging Face base); peft and gguf-lora say they need one.
TEST_F(ExportFixture, WithoutAnAdapterTheModelItselfIsExported) {
  for (const std::string format : {"hf", "gguf"}) {
    auto o = options(format, "model-" + format + (format == "gguf" ? ".gguf" : ""));
    o.adapter.clear();
    o.gguf_type = format == "gguf" ? std::optional<std::string>("f32") : std::nullopt;
    EXPECT_NE(run(o).find("export: llama model " + model_dir + " as " + format), std::string::npos);
    EXPECT_EQ(weights_of(o.out), weights_of(model_dir)) << format;
  }
  for (const std::string format : {"peft", "gguf-lora"}) {
    auto o = options(format, "never");
    o.adapter.clear();
    EXPECT_NE(test::error_message([&] { cli::run_export(o); })
                  .find("[export] --format " + format + " writes an adapter: give --adapter DIR"),
              std::string::npos);
  }
  EXPECT_FALSE(fs::exists(dir.file("never")));
}

// A tiny model with a real tokenizer exported to GGUF carries a vocabulary that tokenizes as the
// tokenizer.json does: SentencePiece (Gemma 3) and byte-level BPE (Qwen3).
TEST(ExportVocabulary, GgufModelTokenizesAsItsTokenizerJson) {
  test::TempDir dir;
  for (const std::string family : {"gemma3", "qwen3"}) {
    SCOPED_TRACE(family);
    const std::string model = dir.file(family);
    testing::internal::CaptureStdout();
    cli::run_init({.family = family, .size = "tiny", .out = model,
                   .tokenizer = std::string(VKTRAIN_TOKENIZERS) + "/" + family});
    cli::ExportOptions o;
    o.model = model;
    o.out = dir.file(family + ".gguf");
    o.format = "gguf";
    o.gguf_type = "q8_0";
    cli::run_export(o);
    testing::internal::GetCapturedStdout();
    io::GgufReader gguf(o.out);
    EXPECT_EQ(gguf.get<std::string>("tokenizer.ggml.model"), family == "gemma3" ? "llama" : "gpt2");
    const auto tokenizer = data::load_tokenizer(io::ModelSource(o.out));
    std::ifstream in(std::string(VKTRAIN_FIXTURES) + "/tokenizers/" + family + ".json");
    const auto cases = nlohmann::json::parse(in)["cases"];
    ASSERT_GT(cases.size(), 30u);
    for (const auto& c : cases) {
      // llama.cpp leaves out the NFC of Qwen's tokenizer.json, and so does its GGUF vocabulary.
      if (c["text"] == "e\u0301 decomposed vs \u00e9 composed") continue;
      SCOPED_TRACE(c["text"].dump());
      EXPECT_EQ(tokenizer.encode(c["text"].get<std::string>(), true),
                c["ids_with_special"].get<std::vector<int32_t>>());
    }
  }
}

// LoRA on the experts' weights (PEFT's target_parameters) through its files, on the qwen3_moe
// and gpt_oss fixtures with a random adapter in PEFT's layouts: the adapter loaded into a model
// and saved again is the same file content (our device layout of lora_B converts both ways;
// gpt-oss's gate_up rows interleave gate and up in PEFT's), `export --format hf` merges W[e] +
// s B_e A_e as PEFT's get_delta_weight forms it (transposed for gpt-oss, whose experts module
// is_transposed), and the exports that cannot carry it say so.
constexpr int64_t kExpertRank = 3;

// q and v projections and both expert weights, rank 3, values in PEFT's file layouts.
io::PeftAdapter random_expert_adapter(const io::ModelConfig& config) {
  io::PeftAdapter a;
  a.lora.rank = kExpertRank;
  a.lora.alpha = 6;
  a.lora.targets = model::parse_lora_targets("q,v,experts");
  uint32_t seed = 40;
  for (const auto& spec : model::lora_parameters(config, a.lora)) {
    a.shapes[spec.name] = model::peft_shape(spec);
    a.weights[spec.name] = test::random_values(spec.elements(), seed++, DType::f32, 0.2f);
  }
  return a;
}

struct ExpertAdapter : testing::TestWithParam<std::string> {
  test::TempDir dir;
  std::string model_dir = fixture(GetParam());
  io::ModelConfig config = io::ModelSource(model_dir).config();
  bool gpt_oss = config.family == io::Family::gpt_oss;
  io::PeftAdapter adapter = random_expert_adapter(config);
  std::string adapter_dir = dir.file("adapter");
  void SetUp() override { io::write_peft_adapter(adapter_dir, adapter); }
  cli::ExportOptions options(const std::string& format, const std::string& out) const {
    cli::ExportOptions o;
    o.model = model_dir;
    o.adapter = adapter_dir;
    o.out = dir.file(out);
    o.format = format;
    return o;
  }
};

// On the device lora_B is [E, out, r]; what comes back for saving is PEFT's [out, r E] again.
TEST_P(ExpertAdapter, LoadedAndSavedAgainIsTheSameAdapter) {
  auto m = model::load_pretrained(test::context(), config, io::ModelSource(model_dir),
                                  adapter_dir, DType::f32);
  const model::Parameter& b =
      m->parameters().at(model::layer_name(1, "mlp.experts.base_layer.lora_B.weight"));
  EXPECT_EQ(b.spec.shape, (std::vector<int64_t>{config.moe.experts,
                                                2 * config.moe.intermediate_size, kExpertRank}));
  EXPECT_EQ(b.spec.peft_interleaved_rows, gpt_oss);
  io::PeftAdapter back = train::adapter_of(*m, model_dir);
  EXPECT_EQ(back.shapes, adapter.shapes);
  EXPECT_EQ(back.weights, adapter.weights);
  EXPECT_EQ(back.lora.targets, adapter.lora.targets);
}

// In transformers' tensors (weights_of reads them into the device's layout; gpt-oss's go back to
// its checkpoint's [E, in, out], gate_up's out columns gate and up alternating as PEFT's lora_B
// rows are).
TEST_P(ExpertAdapter, MergedHuggingFaceModelHoldsEachExpertsDelta) {
  run(options("hf", "merged"));
  auto base = weights_of(model_dir), merged = weights_of(dir.file("merged"));
  for (const auto& spec : model::base_parameters(config))
    for (const auto& piece : model::expert_pieces(config, spec))
      if (piece.order != model::HubOrder::same)
        for (auto* weights : {&base, &merged})
          (*weights)[spec.name] = model::device_to_hub(piece, weights->at(spec.name));
  const size_t E = size_t(config.moe.experts), C = size_t(config.hidden_size),
               F = size_t(config.moe.intermediate_size);
  for (int64_t l = 0; l < config.num_layers; ++l)
    for (auto [weight, module, out, in] :
         {std::tuple{"mlp.experts.gate_up_proj", "mlp.experts.base_layer", 2 * F, C},
          std::tuple{"mlp.experts.down_proj", "mlp.experts", C, F}}) {
      const std::string name = model::layer_name(l, weight), at = model::layer_name(l, module);
      const reference::ExpertLora lora{size_t(kExpertRank), 6.0 / kExpertRank,
                                       adapter.weights.at(at + ".lora_A.weight"),
                                       adapter.weights.at(at + ".lora_B.weight")};
      const auto want = reference::expert_lora_merged(base.at(name), lora, E, out, in, gpt_oss);
      EXPECT_LT(test::relative_error(merged.at(name), want), 1e-6) << name;
      EXPECT_NE(merged.at(name), base.at(name)) << name;
    }
  const std::string router = model::layer_name(0, gpt_oss ? arch::hf::kRouterOwn : arch::hf::kRouter);
  EXPECT_EQ(merged.at(router), base.at(router));
}

// llama.cpp applies LoRA to ffn_*_exps (llama-graph.cpp build_lora_mm_id: ggml_mul_mat_id of
// lora_a, then lora_b, by the routed experts; gpt-oss's graph, models/openai-moe.cpp, runs its
// experts through build_moe_ffn, which does), and its loader checks a.ne[0] == W.ne[0],
// b.ne[1] == W.ne[1], a.ne[1] == b.ne[0]: per expert e, lora_a {in, r, E} and lora_b
// {r, out, E} against the merged GGUF's ffn_{gate,up,down}_exps.
TEST_P(ExpertAdapter, GgufLoraCarriesEachExpertsBlocksAsLlamaCppReadsThem) {
  run(options("gguf-lora", "lora.gguf"));
  auto o = options("gguf", "merged.gguf");
  o.gguf_type = "f16";
  run(o);
  io::GgufReader lora(dir.file("lora.gguf")), merged(dir.file("merged.gguf"));
  const uint64_t E = uint64_t(config.moe.experts), F = uint64_t(config.moe.intermediate_size),
                 R = uint64_t(kExpertRank);
  for (const char* half : {"ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"}) {
    const std::string base = fmt::format("blk.1.{}.weight", half);
    const auto &w = merged.tensor(base).dims, &a = lora.tensor(base + ".lora_a").dims,
               &b = lora.tensor(base + ".lora_b").dims;
    EXPECT_EQ(a, (std::vector<uint64_t>{w[0], R, E})) << base;
    EXPECT_EQ(b, (std::vector<uint64_t>{R, w[1], E})) << base;
  }
  // Expert 5's up rows: rows [F, 2F) of gate_up's lora_B (gpt-oss: its odd rows), its columns
  // j * E + 5.
  const auto& peft_b = adapter.weights.at(model::layer_name(1, "mlp.experts.base_layer.lora_B.weight"));
  const auto up_b = io::dequantize(lora.data("blk.1.ffn_up_exps.weight.lora_b"), io::GgmlType::f32,
                                   E * F * R);
  for (uint64_t o = 0; o < F; ++o) {
    const uint64_t row = gpt_oss ? 2 * o + 1 : F + o;
    for (uint64_t j = 0; j < R; ++j)
      ASSERT_EQ(up_b[(5 * F + o) * R + j], peft_b[row * R * E + j * E + 5]) << o << " " << j;
  }
}

// A checkpoint of a run with expert adapters restores them as they were (resume): the adapter
// goes through PEFT's file layout, the optimizer's state through ours.
TEST_P(ExpertAdapter, CheckpointRestoresTheAdapters) {
  model::ModelSetup setup;
  setup.dtype = DType::f32;
  setup.lora = adapter.lora;
  auto make = [&] {
    auto m = std::make_unique<model::Transformer>(test::context(), config, setup);
    model::load_base_weights(m->parameters(), config, io::ModelSource(model_dir));
    return m;
  };
  auto saved = make();
  model::load_adapter_weights(saved->parameters(), config, adapter);
  auto optimizer = train::make_optimizer(saved->parameters(), {});
  fs::create_directories(dir.file("checkpoint"));  // the trainer's assembly directory
  train::write_trainable(dir.file("checkpoint"), *saved, *optimizer, model_dir);
  auto restored = make();
  auto restored_optimizer = train::make_optimizer(restored->parameters(), {});
  train::read_trainable(restored->parameters(), *restored_optimizer, dir.file("checkpoint"));
  for (const auto& p : saved->parameters().all()) {
    if (!model::is_lora_parameter(p.spec.name)) continue;
    EXPECT_EQ(restored->parameters().read(p.spec.name), saved->parameters().read(p.spec.name))
        << p.spec.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Families, ExpertAdapter, testing::Values("qwen3_moe", "gpt_oss"));

}  // namespace
}  // namespace vktrain
