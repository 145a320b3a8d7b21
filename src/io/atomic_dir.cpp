#include "io/atomic_dir.hpp"

#include <fcntl.h>
#include <unistd.h>

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

}  // namespace vktrain::io
