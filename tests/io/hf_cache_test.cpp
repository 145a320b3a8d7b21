// --model as a Hugging Face repo id: found in a cache folder laid out as huggingface_hub lays it
// out, built here; hostile refs and ids never lead outside it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <vector>

#include "io/hf_cache.hpp"
#include "support/support.hpp"

using namespace vktrain;
namespace fs = std::filesystem;

namespace {

const std::string kMain = "0123456789abcdef0123456789abcdef01234567";
const std::string kOld = "fedcba9876543210fedcba9876543210fedcba98";

// <cache>/models--Org--Name with snapshots/<hash>/config.json and, when given, refs/main.
struct FakeCache {
  test::TempDir dir;
  fs::path repo = dir.path / "hub" / "models--Qwen--Qwen3-1.7B";
  std::string cache() const { return (dir.path / "hub").string(); }
  fs::path snapshot(const std::string& hash) const {
    fs::create_directories(repo / "snapshots" / hash);
    std::ofstream(repo / "snapshots" / hash / "config.json") << "{}";
    return repo / "snapshots" / hash;
  }
  void ref(const std::string& name, const std::string& content) const {
    fs::create_directories((repo / "refs" / name).parent_path());
    std::ofstream(repo / "refs" / name) << content;
  }
};

// Sets an environment variable for one test and puts the old value back.
struct ScopedEnv {
  ScopedEnv(const char* name, const char* value) : name(name) {
    if (const char* old = std::getenv(name)) previous = old;
    value ? setenv(name, value, 1) : unsetenv(name);
  }
  ~ScopedEnv() { previous ? setenv(name, previous->c_str(), 1) : unsetenv(name); }
  const char* name;
  std::optional<std::string> previous;
};

}  // namespace

TEST(HfCache, RefsMainPicksTheSnapshot) {
  FakeCache c;
  c.snapshot(kOld);
  fs::path main = c.snapshot(kMain);
  c.ref("main", kMain + "\n");  // huggingface_hub writes no newline, but tolerate one
  EXPECT_EQ(io::find_in_hf_cache("Qwen/Qwen3-1.7B", c.cache()), main.string());
}

TEST(HfCache, WithoutRefsTheOnlyOrNewestSnapshot) {
  FakeCache c;
  fs::path old = c.snapshot(kOld);
  EXPECT_EQ(io::find_in_hf_cache("Qwen/Qwen3-1.7B", c.cache()), old.string());
  fs::path newer = c.snapshot(kMain);
  fs::last_write_time(old, fs::last_write_time(newer) - std::chrono::hours(1));
  EXPECT_EQ(io::find_in_hf_cache("Qwen/Qwen3-1.7B", c.cache()), newer.string());
}

TEST(HfCache, RevisionsByBranchTagOrCommit) {
  FakeCache c;
  fs::path old = c.snapshot(kOld), main = c.snapshot(kMain);
  c.ref("main", kMain);
  c.ref("pr/3", kOld);
  EXPECT_EQ(io::find_in_hf_cache("Qwen/Qwen3-1.7B@" + kOld, c.cache()), old.string());
  EXPECT_EQ(io::find_in_hf_cache("Qwen/Qwen3-1.7B@pr/3", c.cache()), old.string());
  EXPECT_EQ(io::find_in_hf_cache("Qwen/Qwen3-1.7B@main", c.cache()), main.string());
  // A revision the cache lacks is an error, never a silent fallback to another snapshot.
  EXPECT_NE(test::error_message([&] { io::find_in_hf_cache("Qwen/Qwen3-1.7B@v2", c.cache()); })
                .find("has no revision 'v2' of it; download it with `hf download Qwen/Qwen3-1.7B "
                      "--revision v2`"),
            std::string::npos);
}

TEST(HfCache, AbsentModelNamesTheCacheAndTheDownload) {
  FakeCache c;
  fs::create_directories(c.cache());
  std::string message = test::error_message([&] { io::find_in_hf_cache("Qwen/Qwen3-8B", c.cache()); });
  EXPECT_NE(message.find("[model] Qwen/Qwen3-8B: no such file or directory, and the Hugging Face "
                         "cache " + c.cache() + " does not hold it; download it with `hf download "
                         "Qwen/Qwen3-8B` (or `huggingface-cli download Qwen/Qwen3-8B`)"),
            std::string::npos)
      << message;
  fs::create_directories(c.repo / "snapshots");
  EXPECT_NE(test::error_message([&] { io::find_in_hf_cache("Qwen/Qwen3-1.7B", c.cache()); })
                .find("holds no snapshot of it"),
            std::string::npos);
}

TEST(HfCache, HostileCacheAndIdsStayInside) {
  FakeCache c;
  c.snapshot(kMain);
  // A ref holding a path instead of a hash.
  for (const std::string& bad : std::vector<std::string>{"../../../../etc", kMain.substr(0, 39), kMain + "0", "",
                                                        std::string(kMain).replace(0, 1, "G")}) {
    c.ref("main", bad);
    EXPECT_NE(test::error_message([&] { io::find_in_hf_cache("Qwen/Qwen3-1.7B", c.cache()); })
                  .find("refs/main does not hold a commit hash"),
              std::string::npos)
        << bad;
  }
  // A ref pointing at a snapshot that is not there.
  c.ref("main", kOld);
  EXPECT_NE(test::error_message([&] { io::find_in_hf_cache("Qwen/Qwen3-1.7B", c.cache()); })
                .find("lacks snapshot " + kOld),
            std::string::npos);
  // Ids and revisions that could name something outside the cache are no repo ids.
  for (const char* id : {"../Qwen3", "Qwen/..", "Qwen/a/b", "/abs/path", "Qwen--x/y", "Qwen/Qwen3@../../x",
                         "Qwen/Qwen3@", "Qwen/Qwen3@a//b", ".hidden/x", "Qwen/", "Qwen3", "Qwen/na me"})
    EXPECT_FALSE(io::looks_like_repo_id(id)) << id;
  for (const char* id : {"Qwen/Qwen3-1.7B", "meta-llama/Llama-3.2-1B@main", "a_b/c.d@refs/pr/1"})
    EXPECT_TRUE(io::looks_like_repo_id(id)) << id;
}

TEST(HfCache, EnvironmentOrderAsHuggingfaceHub) {
  ScopedEnv hub("HF_HUB_CACHE", nullptr), legacy("HUGGINGFACE_HUB_CACHE", nullptr),
      home("HF_HOME", nullptr), xdg("XDG_CACHE_HOME", nullptr), user("HOME", "/home/u");
  EXPECT_EQ(io::hf_hub_cache_dir(), "/home/u/.cache/huggingface/hub");
  ScopedEnv xdg_set("XDG_CACHE_HOME", "/xdg");
  EXPECT_EQ(io::hf_hub_cache_dir(), "/xdg/huggingface/hub");
  ScopedEnv home_set("HF_HOME", "/hf");
  EXPECT_EQ(io::hf_hub_cache_dir(), "/hf/hub");
  ScopedEnv legacy_set("HUGGINGFACE_HUB_CACHE", "/legacy");
  EXPECT_EQ(io::hf_hub_cache_dir(), "/legacy");
  ScopedEnv hub_set("HF_HUB_CACHE", "/cache");
  EXPECT_EQ(io::hf_hub_cache_dir(), "/cache");
}

TEST(HfCache, ALocalPathWinsOverTheRepoId) {
  FakeCache c;
  fs::path snapshot = c.snapshot(kMain);
  ScopedEnv hub("HF_HUB_CACHE", c.cache().c_str());
  EXPECT_EQ(io::resolve_model_source("Qwen/Qwen3-1.7B"), snapshot.string());
  // The same words as a relative path that exists: the path.
  fs::path cwd = fs::current_path();
  fs::create_directories(c.dir.path / "work" / "Qwen" / "Qwen3-1.7B");
  fs::current_path(c.dir.path / "work");
  std::string local = io::resolve_model_source("Qwen/Qwen3-1.7B");
  fs::current_path(cwd);
  EXPECT_EQ(local, "Qwen/Qwen3-1.7B");
  // Not a repo id and not there: left for the loader's own error.
  EXPECT_EQ(io::resolve_model_source("/nonexistent"), "/nonexistent");
}
