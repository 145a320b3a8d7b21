#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "io/checkpoint.hpp"
#include "support/support.hpp"

using namespace vktrain;
namespace fs = std::filesystem;

namespace {

struct ModelDir : test::TempDir {
  std::vector<float> a = test::random_values(12, 1), b = test::random_values(6, 2);
  void write_shards() {
    io::write_safetensors(file("model-00001-of-00002.safetensors"),
                          {{"model.layers.0.w", "F32", {3, 4}, std::as_bytes(std::span(a))}});
    io::write_safetensors(file("model-00002-of-00002.safetensors"),
                          {{"model.norm.weight", "F32", {6}, std::as_bytes(std::span(b))}});
  }
  void write_index(const std::string& weight_map) {
    std::ofstream(file("model.safetensors.index.json"))
        << R"({"metadata": {"total_size": 72}, "weight_map": )" << weight_map << "}";
  }
};

}  // namespace

TEST(Checkpoint, SingleFile) {
  ModelDir dir;
  io::write_safetensors(dir.file("model.safetensors"),
                        {{"w", "F32", {3, 4}, std::as_bytes(std::span(dir.a))}});
  io::Checkpoint ckpt(dir.path.string());
  EXPECT_EQ(ckpt.names(), std::vector<std::string>{"w"});
  EXPECT_EQ(ckpt.data("w").size(), 48u);
}

TEST(Checkpoint, ShardsThroughTheIndex) {
  ModelDir dir;
  dir.write_shards();
  dir.write_index(R"({"model.layers.0.w": "model-00001-of-00002.safetensors",
                      "model.norm.weight": "model-00002-of-00002.safetensors"})");
  io::Checkpoint ckpt(dir.path.string());
  EXPECT_EQ(ckpt.shard_count(), 2u);
  EXPECT_TRUE(ckpt.contains("model.norm.weight"));
  EXPECT_EQ(ckpt.entry("model.layers.0.w").shape, (std::vector<int64_t>{3, 4}));
  auto norm = ckpt.data("model.norm.weight");
  EXPECT_EQ(std::memcmp(norm.data(), dir.b.data(), 24), 0);
  EXPECT_NE(test::error_message([&] { ckpt.data("lm_head.weight"); }).find("no tensor 'lm_head.weight'"),
            std::string::npos);
}

TEST(Checkpoint, IndexErrorsNameTheShardAndTheTensor) {
  ModelDir dir;
  dir.write_shards();
  auto open = [&] { return test::error_message([&] { io::Checkpoint ckpt(dir.path.string()); }); };
  dir.write_index(R"({"model.norm.weight": "model-00003-of-00002.safetensors"})");
  EXPECT_NE(open().find("names shard"), std::string::npos) << open();
  dir.write_index(R"({"model.norm.weight": "model-00001-of-00002.safetensors"})");
  EXPECT_NE(open().find("puts tensor 'model.norm.weight' in model-00001-of-00002.safetensors, which does not hold it"),
            std::string::npos)
      << open();
  dir.write_index(R"({"x": "../elsewhere.safetensors"})");
  EXPECT_NE(open().find("not a file in the model directory"), std::string::npos) << open();
  dir.write_index("[1, 2]");
  EXPECT_NE(open().find("missing field 'weight_map'"), std::string::npos) << open();
  fs::remove(dir.file("model.safetensors.index.json"));
  EXPECT_NE(open().find("has neither model.safetensors nor"), std::string::npos) << open();
}
