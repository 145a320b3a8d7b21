// mlx-lm's data folder layout, so `--data data/` works as `mlx_lm.lora --data data/` does.
#include <filesystem>

#include "base/error.hpp"
#include "data/dataset.hpp"

namespace vktrain::data {

namespace fs = std::filesystem;

std::optional<std::string> data_folder_file(const std::string& path, const std::string& split) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return std::nullopt;
  fs::path file = fs::path(path) / (split + ".jsonl");
  if (!fs::is_regular_file(file, ec)) return std::nullopt;
  return file.string();
}

std::string data_file(const std::string& path, const std::vector<std::string>& splits) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return path;
  std::string names;
  for (const auto& split : splits) {
    if (auto file = data_folder_file(path, split)) return *file;
    names += (names.empty() ? "" : " or ") + split + ".jsonl";
  }
  fail("[data] {} is a folder without {}; a data folder holds train.jsonl, and optionally "
       "valid.jsonl and test.jsonl (mlx-lm's layout)",
       path, names);
}

}  // namespace vktrain::data
