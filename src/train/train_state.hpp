#pragma once
// What a checkpoint holds besides weights and optimizer moments: where the run is, so that
// `--resume` continues exactly where it stopped. It lives in `<checkpoint>/trainer_state.json`:
//   {"version": 1, "step": 120, "epoch": 0, "data_position": 960, "shuffle_seed": 42,
//    "rng": [123, 456, ...], "loss_scale": 65536.0, "settings": {"model": "...", ...}}
// Checkpoints are `<run>/checkpoint-<step>` directories, each written whole through an
// io::AtomicDirectory, so one that exists under that name is complete.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace vktrain::train {

inline constexpr const char* kTrainStateFile = "trainer_state.json";

struct TrainState {
  int64_t step = 0;           // optimizer steps completed
  int64_t epoch = 0;          // the epoch the next batch belongs to
  int64_t data_position = 0;  // index of the next example in that epoch's shuffled order
  uint64_t shuffle_seed = 0;  // the seed that epoch's order was shuffled with
  std::vector<uint64_t> rng;  // the run's random generator state (dropout, ...)
  double loss_scale = 1.0;    // fp16 loss scale; 1 when not scaling
  // The run's settings that must not change on resume (model path, mode, LoRA rank and targets,
  // sequence length, batch, gradient accumulation, dtype, ...), as the trainer names them.
  nlohmann::json settings = nlohmann::json::object();
};

// `<checkpoint>/trainer_state.json`; errors name the file and the field.
void write_train_state(const std::string& checkpoint, const TrainState& state);
TrainState read_train_state(const std::string& checkpoint);

// Fails unless `settings` equals the checkpoint's, naming the first key that differs (keys in
// sorted order; nested objects as "lora.rank") with both values. The number of ranks may differ
// where `grad_accum` keeps a step's micro-batches over all ranks (ranks x grad_accum) the same.
void require_same_settings(const TrainState& saved, const nlohmann::json& settings,
                           const std::string& checkpoint);

// `<run>/checkpoint-<step>`.
std::string checkpoint_dir(const std::string& run_dir, int64_t step);
// The checkpoint-<N> directory of `run_dir` with the highest N that holds a trainer_state.json;
// none when there is none (or no run_dir). Temporaries (checkpoint-N.tmp-<pid>) are not
// checkpoints.
std::optional<std::string> latest_checkpoint(const std::string& run_dir);

}  // namespace vktrain::train
