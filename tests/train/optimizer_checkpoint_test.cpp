// A checkpoint's optimizer state through optimizer.safetensors: AdamW 8-bit's codes (U8) and
// absmax (F32) read back as written, a NaN absmax is refused naming the file and the tensor, and
// a checkpoint of one optimizer is refused by another with one error naming both.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>

#include "io/safetensors.hpp"
#include "model/tiny_models.hpp"
#include "support/support.hpp"
#include "train/checkpoint_files.hpp"
#include "train/optimizer.hpp"

namespace vktrain {
namespace {

TEST(OptimizerCheckpoint, Adamw8bitStateReadsBackAndAnotherOptimizerIsRefused) {
  const io::ModelConfig config = test::tiny_config("qwen3");
  model::ModelSetup setup;
  setup.dtype = DType::f32;
  setup.lora.rank = 4;
  setup.lora.targets = model::parse_lora_targets("all-linear");
  auto saved = test::random_model(config, setup, 3);
  auto optimizer =
      train::make_optimizer(saved->parameters(), {}, nullptr, train::OptimizerKind::adamw_8bit);
  std::map<std::string, std::vector<float>> written;
  uint32_t seed = 0;
  for (const auto& p : saved->parameters().all()) {
    if (!p.trainable) continue;
    const std::vector<train::StateTensor> tensors = optimizer->state_tensors(p);
    ASSERT_EQ(tensors.size(), 4u);
    for (size_t i = 0; i < tensors.size(); ++i) {
      const uint64_t count = i % 2 == 0 ? p.spec.elements() : (p.spec.elements() + 255) / 256;
      std::vector<float> values = test::random_values(count, ++seed);
      for (float& x : values) x = tensors[i].codes ? std::floor((x + 1) * 127.9f) : std::fabs(x);
      optimizer->write_state(p, i, values);
      written[tensors[i].name] = std::move(values);
    }
  }
  test::TempDir dir;
  const std::string checkpoint = dir.file("checkpoint");
  std::filesystem::create_directories(checkpoint);
  train::write_trainable(checkpoint, *saved, *optimizer, "base");

  auto restored = test::random_model(config, setup, 4);
  auto same = train::make_optimizer(restored->parameters(), {}, nullptr,
                                    train::OptimizerKind::adamw_8bit);
  train::read_trainable(restored->parameters(), *same, checkpoint);
  for (const auto& p : restored->parameters().all()) {
    if (!p.trainable) continue;
    const std::vector<train::StateTensor> tensors = same->state_tensors(p);
    for (size_t i = 0; i < tensors.size(); ++i)
      EXPECT_EQ(same->read_state(p, i), written[tensors[i].name]) << tensors[i].name;
  }

  // An absmax that no state can have (NaN): one error naming the file and the tensor.
  const std::string state_path = checkpoint + "/optimizer.safetensors";
  std::vector<std::vector<std::byte>> data;
  std::vector<io::SafetensorsTensor> entries;
  std::string corrupted;
  {
    io::SafetensorsReader file(state_path);
    data.reserve(file.tensors().size());
    for (const auto& [name, entry] : file.tensors()) {
      const auto bytes = file.data(name);
      data.emplace_back(bytes.begin(), bytes.end());
      if (corrupted.empty() && name.starts_with("exp_avg_absmax.")) {
        const float nan = std::nanf("");
        std::memcpy(data.back().data(), &nan, sizeof nan);
        corrupted = name;
      }
      entries.push_back({name, entry.dtype, entry.shape, data.back()});
    }
    io::write_safetensors(state_path + ".bad", entries, file.metadata());
  }
  std::filesystem::rename(state_path, state_path + ".good");
  std::filesystem::rename(state_path + ".bad", state_path);
  const std::string bad = test::error_message(
      [&] { train::read_trainable(restored->parameters(), *same, checkpoint); });
  EXPECT_NE(bad.find(state_path), std::string::npos) << bad;
  EXPECT_NE(bad.find(corrupted + " holds nan, not a finite absmax"), std::string::npos) << bad;
  std::filesystem::rename(state_path + ".good", state_path);

  auto other = train::make_optimizer(restored->parameters(), {});
  const std::string message = test::error_message(
      [&] { train::read_trainable(restored->parameters(), *other, checkpoint); });
  EXPECT_NE(message.find("optimizer.safetensors: it holds the state of optimizer adamw_8bit, "
                         "this run's is adamw; resume with --optimizer adamw_8bit"),
            std::string::npos)
      << message;
}

}  // namespace
}  // namespace vktrain
