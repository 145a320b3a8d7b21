#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "io/atomic_dir.hpp"
#include "support/support.hpp"

using namespace vktrain;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST(AtomicDirectory, AppearsOnlyWhenCommitted) {
  test::TempDir dir;
  const std::string target = dir.file("adapter");
  {
    io::AtomicDirectory out(target, "test");
    EXPECT_EQ(fs::path(out.path()).parent_path(), dir.path);  // a sibling: same file system
    std::ofstream(out.file("a.txt")) << "a";
    EXPECT_FALSE(fs::exists(target));
    out.commit();
    EXPECT_FALSE(fs::exists(out.path()));
  }
  EXPECT_EQ(entries(dir.path), std::vector<std::string>{"adapter"});
  EXPECT_EQ(entries(target), std::vector<std::string>{"a.txt"});
}

TEST(AtomicDirectory, AnAbandonedWriteLeavesNothing) {
  test::TempDir dir;
  try {
    io::AtomicDirectory out(dir.file("checkpoint-5/"), "test");  // trailing slash: still a sibling
    std::ofstream(out.file("half.bin")) << "half";
    throw std::runtime_error("disk full");
  } catch (const std::runtime_error&) {
  }
  EXPECT_TRUE(entries(dir.path).empty());
}

TEST(AtomicDirectory, ReplacesAnExistingDirectoryOnlyOnceTheNewOneIsComplete) {
  test::TempDir dir;
  const std::string target = dir.file("adapter");
  fs::create_directory(target);
  std::ofstream(target + "/old.txt") << "old";
  {
    io::AtomicDirectory out(target, "test");
    std::ofstream(out.file("new.txt")) << "new";
    EXPECT_EQ(entries(target), std::vector<std::string>{"old.txt"});  // untouched until commit
    out.commit();
  }
  EXPECT_EQ(entries(target), std::vector<std::string>{"new.txt"});
  EXPECT_EQ(entries(dir.path), std::vector<std::string>{"adapter"});  // the old copy is gone
  {
    io::AtomicDirectory abandoned(target, "test");
    std::ofstream(abandoned.file("newer.txt")) << "newer";
  }
  EXPECT_EQ(entries(target), std::vector<std::string>{"new.txt"});
}

TEST(AtomicDirectory, CreatesMissingParentsAndRefusesToReplaceAFile) {
  test::TempDir dir;
  {
    io::AtomicDirectory out(dir.file("runs/a/checkpoint-1"), "test");
    out.commit();
  }
  EXPECT_TRUE(fs::is_directory(dir.file("runs/a/checkpoint-1")));
  const std::string file = dir.write("taken", "x");
  io::AtomicDirectory out(file, "ckpt");
  EXPECT_EQ(test::error_message([&] { out.commit(); }),
            "[ckpt] cannot replace " + file + ": it exists and is not a directory");
}

// The clean-up of killed runs (train/run_directory.cpp) finds temporaries by these names only.
TEST(AtomicDirectory, NamesTheTemporariesOfAtomicWrites) {
  EXPECT_EQ(io::temporary_of("checkpoint-3.tmp-812"), "checkpoint-3");
  EXPECT_EQ(io::temporary_of("checkpoint-3.old-812"), "checkpoint-3");
  EXPECT_EQ(io::temporary_of("metrics.jsonl.tmp"), "metrics.jsonl");
  for (const char* other : {"checkpoint-3", "a.tmp-", "a.tmp-12x", ".tmp", ".tmp-5", "a.new-5", "notes.tmp.txt"})
    EXPECT_EQ(io::temporary_of(other), std::nullopt) << other;
}
