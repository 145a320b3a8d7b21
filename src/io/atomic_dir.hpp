#pragma once
// A directory that appears complete or not at all (DESIGN.md decision 11): its files are written
// into a temporary sibling `<dir>.tmp-<pid>`, and commit() puts it in place of `<dir>`. An
// existing `<dir>` stays untouched until the new one is complete, and is then swapped out in one
// step (renameat2 RENAME_EXCHANGE; where the file system lacks it, two renames with a moment in
// which `<dir>` is absent, the old copy kept as `<dir>.old-<pid>` until the new one is in
// place). A directory that is never committed (an error, an exception) is removed with
// everything in it. Durability across power loss (fsync) is not attempted, as elsewhere in io/.
#include <optional>
#include <string>
#include <string_view>

namespace vktrain::io {

class AtomicDirectory {
 public:
  // Creates `<dir>.tmp-<pid>` empty (a leftover of that name from an earlier process with the
  // same pid is removed). `format` prefixes errors: "[format] cannot create ...".
  AtomicDirectory(const std::string& dir, const char* format);
  ~AtomicDirectory();
  AtomicDirectory(const AtomicDirectory&) = delete;
  AtomicDirectory& operator=(const AtomicDirectory&) = delete;

  const std::string& path() const { return temporary_; }  // where to write the files
  std::string file(const std::string& name) const { return temporary_ + "/" + name; }
  void commit();  // replaces `<dir>`; after it, path() no longer exists

 private:
  std::string dir_, temporary_;
  const char* format_;
  bool committed_ = false;
};

// The name that `name` is a temporary of, when it is one of io's atomic writes leaves behind
// if its process is killed: an AtomicDirectory's `<dir>.tmp-<pid>` or `<dir>.old-<pid>`, or
// write_file_atomically's `<file>.tmp`. "checkpoint-3.tmp-812" -> "checkpoint-3".
std::optional<std::string> temporary_of(std::string_view name);

}  // namespace vktrain::io
