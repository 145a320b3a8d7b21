// --data DIR in mlx-lm's layout: train.jsonl, valid.jsonl, test.jsonl.
#include <gtest/gtest.h>

#include <filesystem>

#include "data/dataset.hpp"
#include "support/support.hpp"

using namespace vktrain;
namespace fs = std::filesystem;

TEST(DataFolder, PicksTheSplitFilesAndPassesFilesThrough) {
  test::TempDir dir;
  const std::string train = dir.write("train.jsonl", "{\"text\": \"a\"}\n");
  EXPECT_EQ(data::data_file(dir.path.string(), {"train"}), train);
  EXPECT_EQ(data::data_file(train, {"train"}), train);  // a file is the data itself
  EXPECT_EQ(data::data_folder_file(dir.path.string(), "valid"), std::nullopt);
  EXPECT_EQ(data::data_folder_file(train, "valid"), std::nullopt);
  const std::string valid = dir.write("valid.jsonl", "{\"text\": \"b\"}\n");
  EXPECT_EQ(data::data_folder_file(dir.path.string(), "valid"), valid);
  // eval's choice: test.jsonl when there is one, else valid.jsonl.
  EXPECT_EQ(data::data_file(dir.path.string(), {"test", "valid"}), valid);
  const std::string test_file = dir.write("test.jsonl", "{\"text\": \"c\"}\n");
  EXPECT_EQ(data::data_file(dir.path.string(), {"test", "valid"}), test_file);
}

TEST(DataFolder, AFolderWithoutTheFileSaysWhatItNeeds) {
  test::TempDir dir;
  dir.write("valid.jsonl", "{\"text\": \"b\"}\n");
  fs::create_directory(dir.path / "test.jsonl");  // a folder of that name is no file
  EXPECT_EQ(test::error_message([&] { data::data_file(dir.path.string(), {"train"}); }),
            "[data] " + dir.path.string() +
                " is a folder without train.jsonl; a data folder holds train.jsonl, and optionally "
                "valid.jsonl and test.jsonl (mlx-lm's layout)");
  EXPECT_NE(test::error_message([&] { data::data_file(dir.path.string(), {"test", "train"}); })
                .find("without test.jsonl or train.jsonl"),
            std::string::npos);
}
