#include "io/hf_cache.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>

#include "base/env.hpp"
#include "base/error.hpp"

namespace vktrain::io {
namespace {

namespace fs = std::filesystem;

bool is_commit_hash(const std::string& s) {
  return s.size() == 40 &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// A Hub name part: letters, digits, '-', '_', '.', not starting or ending with '-' or '.', no
// "--" or ".." (huggingface_hub's validate_repo_id).
bool is_name_part(const std::string& s) {
  if (s.empty() || s.size() > 96) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  auto edge = [](char c) { return c == '-' || c == '.'; };
  return !edge(s.front()) && !edge(s.back()) && s.find("--") == std::string::npos &&
         s.find("..") == std::string::npos;
}

// A branch, tag or "refs/pr/N"-style name: parts of name characters joined by '/', none "." or
// "..", so refs/<revision> stays inside refs/.
bool is_revision(const std::string& s) {
  if (s.empty() || s.size() > 256) return false;
  size_t start = 0;
  while (true) {
    size_t slash = s.find('/', start);
    std::string part = s.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part.empty() || part == "." || part == "..") return false;
    for (char c : part)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
    if (slash == std::string::npos) return true;
    start = slash + 1;
  }
}

struct RepoSpec {
  std::string org, name, revision;  // revision empty: the default one
};

std::optional<RepoSpec> parse_repo(const std::string& value) {
  size_t at = value.find('@');
  std::string id = value.substr(0, at);
  size_t slash = id.find('/');
  if (slash == std::string::npos) return std::nullopt;
  RepoSpec spec{id.substr(0, slash), id.substr(slash + 1), ""};
  if (!is_name_part(spec.org) || !is_name_part(spec.name)) return std::nullopt;
  if (at != std::string::npos) {
    spec.revision = value.substr(at + 1);
    if (!is_revision(spec.revision)) return std::nullopt;
  }
  return spec;
}

std::string read_ref(const fs::path& ref, const std::string& repo) {
  std::ifstream in(ref, std::ios::binary);
  char buffer[128] = {};
  in.read(buffer, sizeof buffer);
  std::string hash(buffer, size_t(in.gcount()));
  while (!hash.empty() && std::isspace(static_cast<unsigned char>(hash.back()))) hash.pop_back();
  if (!is_commit_hash(hash))
    fail("[model] {}: {} does not hold a commit hash; the Hugging Face cache is damaged, download "
         "the model again",
         repo, ref.string());
  return hash;
}

// The newest snapshot whose name is a commit hash; empty when there is none.
std::string newest_snapshot(const fs::path& snapshots) {
  std::error_code ec;
  std::string best;
  fs::file_time_type best_time;
  for (fs::directory_iterator it(snapshots, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    std::error_code time_ec;
    if (!is_commit_hash(name) || !it->is_directory(time_ec)) continue;
    fs::file_time_type time = fs::last_write_time(it->path(), time_ec);
    if (time_ec) continue;
    if (best.empty() || time > best_time || (time == best_time && name > best)) {
      best = name;
      best_time = time;
    }
  }
  return best;
}

}  // namespace

std::optional<std::string> hf_hub_cache_dir() {
  if (auto dir = env::get("HF_HUB_CACHE")) return *dir;
  if (auto dir = env::get("HUGGINGFACE_HUB_CACHE")) return *dir;
  if (auto home = env::get("HF_HOME")) return *home + "/hub";
  if (auto xdg = env::get("XDG_CACHE_HOME")) return *xdg + "/huggingface/hub";
  if (auto home = env::get("HOME")) return *home + "/.cache/huggingface/hub";
  return std::nullopt;
}

bool looks_like_repo_id(const std::string& value) { return parse_repo(value).has_value(); }

std::string find_in_hf_cache(const std::string& repo, const std::string& cache_dir) {
  auto spec = parse_repo(repo);
  if (!spec) fail("[model] {} is not a Hugging Face repo id (Org/Name or Org/Name@revision)", repo);
  const std::string id = spec->org + "/" + spec->name;
  const std::string download =
      fmt::format("download it with `hf download {0}{1}` (or `huggingface-cli download {0}{1}`), "
                  "or give the model's directory",
                  id, spec->revision.empty() ? "" : " --revision " + spec->revision);
  const fs::path root = fs::path(cache_dir) / ("models--" + spec->org + "--" + spec->name);
  std::error_code ec;
  if (!fs::is_directory(root, ec))
    fail("[model] {}: no such file or directory, and the Hugging Face cache {} does not hold it; {}",
         repo, cache_dir, download);
  std::string hash;
  if (is_commit_hash(spec->revision)) {
    hash = spec->revision;
  } else if (!spec->revision.empty()) {
    const fs::path ref = root / "refs" / spec->revision;
    if (!fs::is_regular_file(ref, ec))
      fail("[model] {}: the Hugging Face cache {} has no revision '{}' of it; {}", repo, cache_dir,
           spec->revision, download);
    hash = read_ref(ref, repo);
  } else if (fs::is_regular_file(root / "refs" / "main", ec)) {
    hash = read_ref(root / "refs" / "main", repo);
  } else {
    hash = newest_snapshot(root / "snapshots");
    if (hash.empty())
      fail("[model] {}: the Hugging Face cache {} holds no snapshot of it; {}", repo, cache_dir,
           download);
  }
  const fs::path snapshot = root / "snapshots" / hash;
  if (!fs::is_directory(snapshot, ec))
    fail("[model] {}: the Hugging Face cache {} lacks snapshot {}; {}", repo, cache_dir, hash, download);
  return snapshot.string();
}

std::string resolve_model_source(const std::string& value) {
  std::error_code ec;
  if (fs::exists(value, ec) || !looks_like_repo_id(value)) return value;
  auto cache = hf_hub_cache_dir();
  if (!cache)
    fail("[model] {}: no such file or directory; as a Hugging Face repo id it needs the cache "
         "folder, but HF_HUB_CACHE, HF_HOME, XDG_CACHE_HOME and HOME are all unset",
         value);
  return find_in_hf_cache(value, *cache);
}

}  // namespace vktrain::io
