#include "io/atomic_dir.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "base/error.hpp"

namespace fs = std::filesystem;

namespace vktrain::io {
namespace {

// `<dir>` + suffix must name a sibling, so "runs/a/" is "runs/a".
std::string without_trailing_slash(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

}  // namespace

AtomicDirectory::AtomicDirectory(const std::string& dir, const char* format)
    : dir_(without_trailing_slash(dir)),
      temporary_(dir_ + ".tmp-" + std::to_string(::getpid())),
      format_(format) {
  std::error_code ec;
  fs::remove_all(temporary_, ec);
  if (fs::path parent = fs::path(dir_).parent_path(); !parent.empty())
    fs::create_directories(parent, ec);
  if (!fs::create_directory(temporary_, ec) || ec)
    fail("[{}] cannot create {}: {}", format_, temporary_,
         ec ? ec.message() : "it exists and cannot be removed");
}

AtomicDirectory::~AtomicDirectory() {
  if (committed_) return;
  std::error_code ignored;
  fs::remove_all(temporary_, ignored);
}

void AtomicDirectory::commit() {
  std::error_code ec;
  if (!fs::exists(dir_, ec)) {
    fs::rename(temporary_, dir_, ec);
    if (ec) fail("[{}] cannot move {} into place: {}", format_, dir_, ec.message());
    committed_ = true;
    return;
  }
  if (!fs::is_directory(dir_, ec))
    fail("[{}] cannot replace {}: it exists and is not a directory", format_, dir_);
  // After the exchange, temporary_ holds the previous contents.
  std::string previous = temporary_;
  if (::renameat2(AT_FDCWD, temporary_.c_str(), AT_FDCWD, dir_.c_str(), RENAME_EXCHANGE) != 0) {
    if (errno != EINVAL && errno != ENOSYS)
      fail("[{}] cannot replace {}: {}", format_, dir_, std::strerror(errno));
    // No atomic exchange on this file system: set the old copy aside, then move the new one in.
    previous = dir_ + ".old-" + std::to_string(::getpid());
    fs::remove_all(previous, ec);
    fs::rename(dir_, previous, ec);
    if (ec) fail("[{}] cannot replace {}: {}", format_, dir_, ec.message());
    fs::rename(temporary_, dir_, ec);
    if (ec) {
      std::error_code ignored;
      fs::rename(previous, dir_, ignored);
      fail("[{}] cannot move {} into place: {}", format_, dir_, ec.message());
    }
  }
  committed_ = true;
  fs::remove_all(previous, ec);  // the new contents are in place whatever happens here
}

std::optional<std::string> temporary_of(std::string_view name) {
  if (name.ends_with(".tmp") && name.size() > 4) return std::string(name.substr(0, name.size() - 4));
  const size_t dash = name.rfind('-');
  if (dash == std::string_view::npos || dash + 1 == name.size()) return std::nullopt;
  const std::string_view pid = name.substr(dash + 1);
  if (!std::ranges::all_of(pid, [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  const std::string_view stem = name.substr(0, dash);  // "<dir>.tmp" or "<dir>.old"
  if (stem.size() <= 4 || !(stem.ends_with(".tmp") || stem.ends_with(".old"))) return std::nullopt;
  return std::string(stem.substr(0, stem.size() - 4));
}

}  // namespace vktrain::io
