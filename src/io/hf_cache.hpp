#pragma once
// `--model Org/Name[@revision]`: a Hugging Face repo id found in the local Hugging Face cache,
// as transformers finds it offline (HF_HUB_OFFLINE=1), so a model downloaded once with
// `hf download Org/Name` needs no path. A path that exists always wins over a repo id.
//
// The cache (huggingface_hub's layout):
//   <cache>/models--Org--Name/refs/<revision>   a file holding a commit hash
//   <cache>/models--Org--Name/snapshots/<hash>/ the files of that commit
// <cache> is $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE (its old name), else $HF_HOME/hub, else
// $XDG_CACHE_HOME/huggingface/hub, else $HOME/.cache/huggingface/hub.
// Without @revision, refs/main decides, else the only snapshot, else the newest one. The cache is
// untrusted: a ref must hold a 40-digit hex hash, and repo ids and revisions are checked against
// the characters the Hub allows, so nothing in them can leave the cache folder.
#include <optional>
#include <string>

namespace vktrain::io {

// The cache folder from the environment (above); nullopt when no variable gives one.
std::optional<std::string> hf_hub_cache_dir();

// Whether `value` has the form Org/Name or Org/Name@revision (and so is looked up in the cache
// when no such path exists).
bool looks_like_repo_id(const std::string& value);

// The snapshot directory of `repo` ("Org/Name" or "Org/Name@revision") inside `cache_dir`;
// fails with one line naming the repo, the cache folder and the command that downloads it.
std::string find_in_hf_cache(const std::string& repo, const std::string& cache_dir);

// What --model means: `value` itself when it exists or is no repo id, else its snapshot in the
// environment's cache.
std::string resolve_model_source(const std::string& value);

}  // namespace vktrain::io
