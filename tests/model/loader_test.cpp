// model/loader's GGUF path against its Hugging Face path: each fixture model
// (tests/fixtures/models) converted to GGUF as llama.cpp's convert_hf_to_gguf.py would loads to
// the same parameters, bit for bit, and the same logits; a Q8_0 file loads dequantized; and each
// kind of broken input is one error that names the file and the tensor.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <functional>

#include "data/model_text.hpp"
#include "io/checkpoint.hpp"
#include "io/gguf_names.hpp"
#include "io/quant.hpp"
#include "model/activations.hpp"
#include "model/loader.hpp"
#include "model/quantized.hpp"
#include "model/transformer.hpp"
#include "support/config_fields.hpp"
#include "support/converted_gguf.hpp"
#include "support/support.hpp"
#include "train/batch_upload.hpp"
#include "vk/recorder.hpp"

namespace vktrain {
namespace {

const std::vector<std::string> kFamilies = {"llama", "qwen2", "qwen3", "gemma3"};

std::string fixture_dir(const std::string& family) {
  return std::string(VKTRAIN_FIXTURES) + "/models/" + family;
}

// A fixture tensor's values (the fixtures are all F32).
std::vector<float> checkpoint_floats(const io::Checkpoint& checkpoint, const std::string& name) {
  auto bytes = checkpoint.data(name);
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

// The converter's file for a fixture directory: its config's metadata and every tensor of
// model.safetensors as io::add_hf_weight stores it; F32, or `matrices` for the 2-D weights
// (llama-quantize keeps 1-D ones in F32).
test::ConvertedGguf converted_fixture(const std::string& family,
                                      io::GgmlType matrices = io::GgmlType::f32) {
  const std::string dir = fixture_dir(family);
  io::ModelConfig config = io::read_model_config(dir + "/config.json");
  test::ConvertedGguf f = test::converted_gguf(config);
  std::erase_if(f.tensors, [](const auto& t) { return t.name == "output.weight"; });  // stand-in

  io::Checkpoint checkpoint(dir);
  for (const auto& name : checkpoint.names())
    io::add_hf_weight(f, config, name, checkpoint.entry(name).shape,
                      checkpoint_floats(checkpoint, name), matrices);
  return f;
}

std::unique_ptr<model::Transformer> load(const std::string& path, const io::ModelConfig& config) {
  auto m = std::make_unique<model::Transformer>(test::context(), config, model::ModelSetup{});
  model::load_base_weights(m->parameters(), config, io::ModelSource(path));
  return m;
}

// The first index at which two arrays differ in their bits, -1 when they are identical.
int64_t first_difference(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size()) return 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0) return int64_t(i);
  return -1;
}

// Logits [B * T, V] of two rows of 12 tokens (longer than gemma3's window of 6).
std::vector<float> logits(model::Transformer& m) {
  data::HostBatch b;
  b.batch = 2;
  b.time = 12;
  for (int64_t i = 0; i < b.batch * b.time; ++i) {
    b.ids.push_back(int32_t((7 * i + 3) % m.config().vocab_size));
    b.targets.push_back(-100);
    b.positions.push_back(int32_t(i % b.time));
  }
  vk::Context& ctx = m.context();
  model::Activations acts(ctx, m.config(), m.setup().dtype, b.batch, b.time, false, 0);
  model::BatchTensors device = m.make_batch(b.batch, b.time);
  Tensor out = make_tensor(ctx, DType::f32, {b.batch * b.time, m.config().vocab_size}, "logits");
  vk::Recorder rec(ctx);
  m.record_forward(rec, acts, device, false);
  m.record_logits(rec, out, acts);
  train::upload_batch(m, device, b);
  rec.run();
  return read_floats(ctx, out);
}

// Reads a model's config and loads its weights into a fresh model: the error it ends in.
std::string load_error(const std::string& path) {
  return test::error_message([&] { load(path, io::ModelSource(path).config()); });
}

// A copy of a fixture directory whose model.safetensors `change` edited first.
std::string broken_copy(const test::TempDir& dir, const std::string& family,
                        const std::function<void(std::vector<io::SafetensorsTensor>&)>& change) {
  io::Checkpoint checkpoint(fixture_dir(family));
  std::vector<io::SafetensorsTensor> tensors;
  for (const auto& name : checkpoint.names()) {
    const auto& entry = checkpoint.entry(name);
    tensors.push_back({name, entry.dtype, entry.shape, checkpoint.data(name)});
  }
  change(tensors);
  std::filesystem::copy_file(fixture_dir(family) + "/config.json", dir.file("config.json"));
  io::write_safetensors(dir.file("model.safetensors"), tensors);
  return dir.path.string();
}

io::SafetensorsTensor& tensor_named(std::vector<io::SafetensorsTensor>& tensors,
                                    const std::string& name) {
  for (auto& t : tensors)
    if (t.name == name) return t;
  throw std::logic_error("no fixture tensor " + name);
}

void expect_mentions(const std::string& message, const std::vector<std::string>& parts) {
  for (const auto& part : parts)
    EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
}

TEST(Loader, GgufLoadsTheSameModelAsItsHuggingFaceDirectory) {
  for (const auto& family : kFamilies) {
    SCOPED_TRACE(family);
    test::TempDir dir;
    const std::string gguf = converted_fixture(family).write(dir.file("model.gguf"));
    ASSERT_TRUE(io::ModelSource(gguf).is_gguf());
    io::ModelConfig hf_config = io::ModelSource(fixture_dir(family)).config();
    io::ModelConfig gguf_config = io::ModelSource(gguf).config();
    // GGUF cannot hold gemma3's query_pre_attn_scalar (the fixture's is 24): llama.cpp, and so
    // the reader, take head_dim. The GGUF model is built with the fixture's value so that the
    // logits can be compared too.
    if (hf_config.family == io::Family::gemma3) {
      EXPECT_EQ(gguf_config.query_pre_attn_scalar, double(hf_config.head_dim));
      gguf_config.query_pre_attn_scalar = hf_config.query_pre_attn_scalar;
    }
    EXPECT_EQ(test::config_differences(hf_config, gguf_config), std::vector<std::string>{});

    auto hf_model = load(fixture_dir(family), hf_config);
    auto gguf_model = load(gguf, gguf_config);
    for (const auto& p : hf_model->parameters().all()) {
      std::vector<float> want = hf_model->parameters().read(p.spec.name);
      // 1 + w rounds to f32 in the file; (1 + w) - 1 is then exact, so the loader can return
      // exactly that and no more (and 1 + it is the 1 + w the model computes either way).
      if (io::shifts_norm(hf_config.family, p.spec.name)) {
        io::norm_to_gguf(want);
        io::norm_from_gguf(want);
      }
      EXPECT_EQ(first_difference(gguf_model->parameters().read(p.spec.name), want), -1)
          << p.spec.name;
    }
    EXPECT_EQ(first_difference(logits(*gguf_model), logits(*hf_model)), -1);
  }
}

TEST(Loader, QuantizedGgufIsDequantizedOnLoad) {
  // llama, so that the quantized Q and K rows are also permuted back.
  test::TempDir dir;
  const std::string gguf =
      converted_fixture("llama", io::GgmlType::q8_0).write(dir.file("q8.gguf"));
  io::Checkpoint checkpoint(fixture_dir("llama"));
  auto m = load(gguf, io::ModelSource(gguf).config());
  for (const auto& p : m->parameters().all()) {
    SCOPED_TRACE(p.spec.name);
    std::vector<float> original = checkpoint_floats(checkpoint, p.spec.name);
    std::vector<float> got = m->parameters().read(p.spec.name);
    if (p.spec.shape.size() != 2) {
      EXPECT_EQ(first_difference(got, original), -1);
      continue;
    }
    // The file holds quantize(w), its Q and K rows reordered; Q8_0 blocks lie within a row, so
    // reordering rows reorders whole blocks and the decoded tensor is dequantize(quantize(w)).
    std::vector<float> want = io::dequantize(io::quantize(original, io::GgmlType::q8_0),
                                             io::GgmlType::q8_0, original.size());
    EXPECT_EQ(first_difference(got, want), -1);
    EXPECT_NE(first_difference(got, original), -1);  // Q8_0 did round
  }
}

// One source serves every reader of a run: config, tokenizer, chat template, the quantized-base
// choice and the weights all ask the object opened once, so they work on after the file is gone,
// and a GGUF without the ".gguf" extension is a GGUF to each of them.
TEST(Loader, OneOpenedSourceServesEveryReader) {
  test::TempDir dir;
  const std::string path = converted_fixture("llama", io::GgmlType::q8_0).write(dir.file("model"));
  const io::ModelSource source(path);
  std::filesystem::remove(path);
  const io::ModelConfig config = source.config();
  EXPECT_EQ(config.family, io::Family::llama);
  const data::ModelText text = data::load_model_text(source);
  EXPECT_EQ(text.tokenizer.piece(5), "t5");
  EXPECT_NE(text.chat_template.render({{"user", "hi"}}).find("user"), std::string::npos);
  const model::QuantizedBase base = model::choose_quantized_base(config, &source, {}, DType::f32);
  EXPECT_EQ(base.types.at("model.layers.0.self_attn.q_proj.weight"), DType::q8_0);
  model::ModelSetup setup;
  setup.quantized = base.types;
  model::Transformer m(test::context(), config, setup);
  model::load_base_weights(m.parameters(), config, source);
  io::Checkpoint checkpoint(fixture_dir("llama"));
  const std::string q = "model.layers.1.self_attn.q_proj.weight";  // rows permuted in the file
  const std::vector<float> original = checkpoint_floats(checkpoint, q);
  EXPECT_EQ(first_difference(m.parameters().read(q),
                             io::dequantize(io::quantize(original, io::GgmlType::q8_0),
                                            io::GgmlType::q8_0, original.size())),
            -1);
}

TEST(Loader, HuggingFaceDirectoryMissingATensor) {
  test::TempDir dir;
  const std::string missing = "model.layers.1.mlp.up_proj.weight";
  std::string path = broken_copy(dir, "llama", [&](auto& tensors) {
    std::erase_if(tensors, [&](const auto& t) { return t.name == missing; });
  });
  expect_mentions(load_error(path), {"[model] " + path + ": ", "no tensor " + missing});
}

TEST(Loader, HuggingFaceTensorOfTheWrongShape) {
  test::TempDir dir;
  std::string path = broken_copy(dir, "qwen3", [](auto& tensors) {
    tensor_named(tensors, "model.layers.0.self_attn.k_proj.weight").shape = {64, 32};
  });
  expect_mentions(load_error(path), {"[model] " + path + ": ",
                                     "tensor model.layers.0.self_attn.k_proj.weight has shape "
                                     "[64, 32], the config implies [32, 64]"});
}

TEST(Loader, HuggingFaceTensorOfAnUnsupportedDtype) {
  test::TempDir dir;
  std::string path = broken_copy(dir, "qwen2", [](auto& tensors) {
    tensor_named(tensors, "model.norm.weight").dtype = "I32";  // 4-byte elements, as F32
  });
  expect_mentions(load_error(path), {"[model] " + path + ": ", "tensor model.norm.weight is I32"});
}

TEST(Loader, PathThatIsNeitherADirectoryNorAGguf) {
  test::TempDir dir;
  for (const std::string& path : {dir.write("model.bin", "not a model"), dir.file("absent")}) {
    SCOPED_TRACE(path);
    const std::string why = "[model] " + path + " is neither a Hugging Face model directory nor "
                            "a GGUF file";
    EXPECT_EQ(load_error(path), why);
    // The weights alone (the config from elsewhere) say the same.
    io::ModelConfig config = io::ModelSource(fixture_dir("qwen3")).config();
    EXPECT_EQ(test::error_message([&] { load(path, config); }), why);
  }
}

TEST(Loader, GgufMissingATensor) {
  test::TempDir dir;
  test::ConvertedGguf f = converted_fixture("qwen3");
  std::erase_if(f.tensors, [](const auto& t) { return t.name == "blk.1.ffn_up.weight"; });
  std::string path = f.write(dir.file("model.gguf"));
  expect_mentions(load_error(path), {"[model] " + path + ": ", "no tensor blk.1.ffn_up.weight",
                                     "model.layers.1.mlp.up_proj.weight"});
}

TEST(Loader, GgufTensorOfATypeThatCannotBeDequantized) {
  // Q8_1 (32 values in 40 bytes, ggml's matmul-side type): the fixture's rows of 64 hold no
  // 256-value block.
  ASSERT_FALSE(io::can_dequantize(io::GgmlType::q8_1));
  test::TempDir dir;
  test::ConvertedGguf f = converted_fixture("qwen3");
  auto* t = f.find("blk.0.attn_v.weight");
  ASSERT_NE(t, nullptr);
  t->type = io::GgmlType::q8_1;
  t->encoded.assign(t->dims[0] * t->dims[1] / 32 * 40, std::byte{0});
  std::string path = f.write(dir.file("model.gguf"));
  expect_mentions(load_error(path), {"[model] " + path + ": ", "tensor blk.0.attn_v.weight is Q8_1",
                                     "cannot dequantize"});
}

}  // namespace
}  // namespace vktrain
