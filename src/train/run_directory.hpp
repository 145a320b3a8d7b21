#pragma once
// The directory a training run writes (`vktrain train --out DIR`): which runs may start in it,
// and holding it for a run's life so that two runs never write one directory.
//
// What vktrain writes there: metrics.jsonl, report.html, the adapter (adapter_config.json,
// adapter_model.safetensors) or the model (config.json, model.safetensors, the tokenizer files),
// checkpoint-<N>/ (the run's outputs); data-cache/; the lock file .vktrain.lock; and the
// temporaries of atomic writes (io::temporary_of). A run may start in
//   - a new or empty directory, or one that holds none of a previous run's outputs;
//   - one that holds a previous run's outputs only to continue it (--resume, which needs a
//     checkpoint) or to replace it (--overwrite: the outputs are removed when the run starts;
//     the data cache and files vktrain did not write stay);
// A non-empty directory that has files vktrain does not write and was never a run's (no lock
// file: a model directory, a home folder) is refused, --overwrite or not, so that nothing
// vktrain did not write is ever removed.
//
// The lock: an exclusive flock(2) on `DIR/.vktrain.lock`, which holds the holder's pid, from
// before the run reads anything in DIR until it exits. The kernel releases it when the process
// ends, however it ends, so a lock never goes stale.
#include <string>
#include <vector>

namespace vktrain::train {

enum class RunStart { fresh, resume, overwrite };

inline constexpr const char* kRunLockFile = ".vktrain.lock";

// Fails with one line naming `dir` and what to do unless a run may start there as `start` asks,
// including when another run holds it. Creates and changes nothing: a command checks this before
// its slow set-up, and RunDirectory checks again under the lock.
void check_run_directory(const std::string& dir, RunStart start);

class RunDirectory {
 public:
  // Creates `dir` (and its missing parents), takes its lock, checks it (check_run_directory),
  // and removes the temporaries of killed runs (a half-written checkpoint-<N>.tmp-<pid>/, a
  // metrics.jsonl.tmp, ...): under the lock none belongs to a live run.
  RunDirectory(const std::string& dir, RunStart start);
  // Before begin(), removes what the constructor created (the directory and its parents, or the
  // lock file and data cache it added to an existing one): a start that fails leaves no trace.
  // Then releases the lock.
  ~RunDirectory();
  RunDirectory(const RunDirectory&) = delete;
  RunDirectory& operator=(const RunDirectory&) = delete;

  const std::string& path() const { return dir_; }
  std::string cache_dir() const { return dir_ + "/data-cache"; }
  // The run starts: --overwrite's previous outputs are removed now, and the directory stays
  // whatever happens next.
  void begin();

 private:
  void roll_back() noexcept;

  std::string dir_;
  RunStart start_;
  int lock_ = -1;
  std::vector<std::string> created_;  // directories this made, deepest first
  bool created_lock_file_ = false, created_cache_ = false, begun_ = false;
};

}  // namespace vktrain::train
