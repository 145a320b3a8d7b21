#include "train/run_directory.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <span>

#include "base/error.hpp"
#include "io/atomic_dir.hpp"
#include "io/model_files.hpp"
#include "io/peft_adapter.hpp"
#include "train/train_state.hpp"

namespace fs = std::filesystem;

namespace vktrain::train {
namespace {

constexpr const char* kCacheDir = "data-cache";

bool is_checkpoint(std::string_view name) {
  constexpr std::string_view prefix = "checkpoint-";
  return name.size() > prefix.size() && name.starts_with(prefix) &&
         std::ranges::all_of(name.substr(prefix.size()), [](char c) { return c >= '0' && c <= '9'; });
}

// The names of a previous run's outputs (DESIGN.md: what a run directory holds).
bool is_output(const std::string& name) {
  static const std::set<std::string> files = [] {
    std::set<std::string> names = {"metrics.jsonl",       "report.html",      io::kPeftConfigFile,
                                   io::kPeftWeightsFile, "config.json",      "model.safetensors"};
    names.insert(std::begin(io::kTokenizerFiles), std::end(io::kTokenizerFiles));
    return names;
  }();
  return files.count(name) || is_checkpoint(name);
}

struct Contents {
  std::vector<std::string> outputs, temporaries, foreign;  // sorted
  bool has_lock_file = false;  // some run took the directory once
};

Contents contents_of(const std::string& dir) {
  Contents c;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const std::optional<std::string> of = io::temporary_of(name);
    if (name == kRunLockFile) c.has_lock_file = true;
    else if (name == kCacheDir) continue;
    else if (is_output(name)) c.outputs.push_back(name);
    else if (of && is_output(*of)) c.temporaries.push_back(name);
    else c.foreign.push_back(name);
  }
  if (ec) fail("[train] --out {}: cannot list the directory ({})", dir, ec.message());
  for (auto* names : {&c.outputs, &c.temporaries, &c.foreign}) std::ranges::sort(*names);
  return c;
}

std::string some_of(const std::vector<std::string>& names) {
  constexpr size_t kShown = 3;
  std::span shown(names.data(), std::min(names.size(), kShown));
  return fmt::format("{}{}", fmt::join(shown, ", "), names.size() > kShown ? ", ..." : "");
}

// What check_run_directory checks once the lock is settled. `made_lock_file`: the lock file is
// this run's own, so it does not make the directory a run's.
void check_contents(const std::string& dir, RunStart start, bool made_lock_file = false) {
  const Contents c = contents_of(dir);
  if ((!c.has_lock_file || made_lock_file) && !c.foreign.empty())
    fail("[train] --out {} is not empty and not a vktrain run directory (it holds {}); choose a "
         "new or empty directory",
         dir, some_of(c.foreign));
  if (start == RunStart::resume && !latest_checkpoint(dir))
    fail("[train] --resume: {} has no checkpoint to resume from", dir);
  if (start == RunStart::fresh && !c.outputs.empty())
    fail("[train] --out {} holds a previous run ({}); pass --resume to continue it, --overwrite to "
         "replace it, or choose another --out",
         dir, some_of(c.outputs));
}

// " (pid N)" from the lock file the holder wrote, or "" when it has not yet.
std::string holder_of(int lock) {
  char text[24] = {};
  const ssize_t n = ::pread(lock, text, sizeof text - 1, 0);
  std::string pid(text, size_t(std::max<ssize_t>(n, 0)));
  while (!pid.empty() && pid.back() == '\n') pid.pop_back();
  const bool known = !pid.empty() && std::ranges::all_of(pid, [](char c) { return c >= '0' && c <= '9'; });
  return known ? " (pid " + pid + ")" : "";
}

[[noreturn]] void fail_in_use(const std::string& dir, const std::string& holder) {
  fail("[train] --out {} is in use by another vktrain run{}; wait for it to end or choose another "
       "--out",
       dir, holder);
}

// Whether `fd` is still the file named `path` (a failed start removes the lock file it made).
bool still_named(int fd, const std::string& path) {
  struct stat held {}, named {};
  return ::fstat(fd, &held) == 0 && ::stat(path.c_str(), &named) == 0 &&
         held.st_dev == named.st_dev && held.st_ino == named.st_ino;
}

// The temporaries killed runs left in `dir` and its data cache. An AtomicDirectory killed between
// its two renames (file systems without RENAME_EXCHANGE) left the only copy as `<dir>.old-<pid>`:
// that one is put back.
void remove_temporaries(const std::string& dir, const std::vector<std::string>& names) {
  std::error_code ec;
  for (const std::string& name : names) {
    const fs::path path = fs::path(dir) / name, target = fs::path(dir) / *io::temporary_of(name);
    if (name.find(".old-") != std::string::npos && !fs::exists(target, ec)) fs::rename(path, target, ec);
    else fs::remove_all(path, ec);
    if (ec) fail("[train] --out {}: cannot remove the stale {} ({})", dir, name, ec.message());
  }
  const fs::path cache = fs::path(dir) / kCacheDir;
  for (const auto& entry : fs::directory_iterator(cache, ec))
    if (io::temporary_of(entry.path().filename().string())) fs::remove_all(entry.path(), ec);
}

}  // namespace

void check_run_directory(const std::string& dir, RunStart start) {
  std::error_code ec;
  const fs::file_status status = fs::status(dir, ec);
  if (!fs::exists(status)) {
    if (start == RunStart::resume) fail("[train] --resume: {} has no checkpoint to resume from", dir);
    return;
  }
  if (!fs::is_directory(status)) fail("[train] --out {} is a file; choose a directory", dir);
  if (::access(dir.c_str(), W_OK) != 0)
    fail("[train] --out {}: the directory is not writable; choose another path", dir);
  const std::string lock = dir + "/" + kRunLockFile;
  if (const int fd = ::open(lock.c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
    // A shared lock for a moment: refused while a run holds the exclusive one. Other errors are
    // for the run's own lock to report.
    const bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    const std::string holder = held ? holder_of(fd) : "";
    ::close(fd);
    if (held) fail_in_use(dir, holder);
  }
  check_contents(dir, start);
}

RunDirectory::RunDirectory(const std::string& dir, RunStart start) : start_(start) {
  fs::path normal = fs::path(dir).lexically_normal();
  if (normal.filename().empty()) normal = normal.parent_path();  // "runs/a/" -> "runs/a"
  dir_ = normal.string();
  for (fs::path p = normal; !p.empty() && !fs::exists(p); p = p.parent_path())
    created_.push_back(p.string());
  const std::string lock = dir_ + "/" + kRunLockFile;
  try {
    // A failed start that removes its lock file while this one waits for the lock: take the new
    // file. Three tries, then treat it as in use.
    for (int attempt = 1;; ++attempt) {
      std::error_code ec;
      fs::create_directories(dir_, ec);
      if (ec || !fs::is_directory(dir_))
        fail("[train] --out {}: cannot create the directory ({}); choose another path", dir_,
             ec ? ec.message() : "a file is in the way");
      int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      const bool made = fd >= 0;
      if (!made && errno == EEXIST) fd = ::open(lock.c_str(), O_RDWR | O_CLOEXEC);
      if (fd < 0) fail("[train] --out {}: cannot open {}: {}", dir_, lock, std::strerror(errno));
      if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int error = errno;
        const std::string holder = error == EWOULDBLOCK ? holder_of(fd) : "";
        ::close(fd);
        if (error == EWOULDBLOCK) fail_in_use(dir_, holder);
        fail("[train] cannot lock {}: {}", lock, std::strerror(error));
      }
      if (still_named(fd, lock)) {
        lock_ = fd;
        created_lock_file_ = made;
        break;
      }
      ::close(fd);
      if (attempt == 3) fail_in_use(dir_, "");
    }
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(lock_, 0) != 0 || ::pwrite(lock_, pid.data(), pid.size(), 0) != ssize_t(pid.size()))
      fail("[train] cannot write {}: {}", lock, std::strerror(errno));
    check_contents(dir_, start_, created_lock_file_);
    created_cache_ = !fs::exists(cache_dir());
    remove_temporaries(dir_, contents_of(dir_).temporaries);
  } catch (...) {
    roll_back();
    if (lock_ >= 0) ::close(lock_);
    throw;
  }
}

RunDirectory::~RunDirectory() {
  if (!begun_) roll_back();
  if (lock_ >= 0) ::close(lock_);
}

void RunDirectory::begin() {
  if (start_ == RunStart::overwrite)
    for (const std::string& name : contents_of(dir_).outputs) {
      std::error_code ec;
      fs::remove_all(fs::path(dir_) / name, ec);
      if (ec) fail("[train] --overwrite: cannot remove {}/{} ({})", dir_, name, ec.message());
    }
  begun_ = true;
}

void RunDirectory::roll_back() noexcept {
  std::error_code ignored;
  if (lock_ >= 0) {  // only the lock's holder removes anything
    if (created_cache_) fs::remove_all(cache_dir(), ignored);
    if (created_lock_file_) fs::remove(dir_ + "/" + kRunLockFile, ignored);
  }
  for (const std::string& dir : created_) fs::remove(dir, ignored);  // each only when empty
}

}  // namespace vktrain::train
