#include "train/metrics.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>
#include <vector>

#include "base/error.hpp"
#include "io/file.hpp"
#include "io/json_file.hpp"

namespace vktrain::train {
namespace {

// The lines of `path` to keep when resuming at `resume_step`.
std::vector<std::string> lines_up_to(const std::string& path, int64_t resume_step) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};  // no log yet: nothing to keep
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);

  std::vector<std::string> kept;
  for (size_t i = 0; i < all.size(); ++i) {
    auto record = io::parse_json_or_discarded(all[i]);
    bool valid = record.is_object() && record.contains("step") &&
                 record["step"].is_number_integer();
    if (!valid) {
      if (i + 1 == all.size()) break;  // the line a crash cut short
      fail("[metrics] {}: line {} is not a JSON object with an integer \"step\"", path, i + 1);
    }
    if (record["step"].get<int64_t>() <= resume_step) kept.push_back(all[i]);
  }
  return kept;
}

}  // namespace

MetricsLog MetricsLog::open(const std::string& path, int64_t resume_step) {
  std::error_code ignored;  // a folder that cannot be made fails the open below, naming the file
  if (auto parent = std::filesystem::path(path).parent_path(); !parent.empty())
    std::filesystem::create_directories(parent, ignored);
  auto mode = std::ios::binary | std::ios::trunc;
  if (resume_step >= 0) {
    std::vector<std::string> kept = lines_up_to(path, resume_step);
    io::write_file_atomically(path, "metrics", [&](std::ofstream& out) {
      for (const auto& line : kept) out << line << '\n';
    });
    mode = std::ios::binary | std::ios::app;
  }
  std::ofstream out(path, mode);
  if (!out) fail("[metrics] cannot open {}: {}", path, std::strerror(errno));
  return MetricsLog(path, std::move(out), resume_step);
}

void MetricsLog::write(const nlohmann::json& record) {
  if (!record.is_object()) fail("[metrics] a record must be a JSON object, got {}", record.dump());
  nlohmann::json line = record;
  if (resumed_from_ >= 0) line["resumed_from"] = std::exchange(resumed_from_, -1);
  out_ << line.dump() << '\n';
  out_.flush();
  if (!out_) fail("[metrics] writing {} failed (disk full?)", path_);
}

}  // namespace vktrain::train
