#pragma once
// `vktrain train`: LoRA, full fine-tuning or pre-training of a model on a dataset, with the flags
// mlx-lm, Unsloth and PEFT users know; every flag may also come from --config run.yaml|json.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vktrain::cli {

struct TrainOptions {
  std::string model, data, out;
  std::optional<std::string> valid;  // --valid FILE; else --valid-split of the training data
  double valid_split = 0;
  std::optional<std::string> chat_template;
  // LoRA (default) or full fine-tuning.
  int64_t lora_rank = 16;
  double lora_alpha = 32;
  float lora_dropout = 0;
  std::string lora_targets = "all-linear";
  bool rslora = false;
  bool full = false;
  // --adapter DIR: continue training a PEFT adapter with a new optimizer state (unlike --resume,
  // which restores a run); its rank, alpha, targets and rsLoRA are the run's, and lora_flags (the
  // --lora-* flags given) must agree with them.
  std::optional<std::string> adapter;
  std::vector<std::string> lora_flags;
  // Optimizer and schedule.
  double lr = 1e-4;
  std::string lr_schedule = "cosine";
  int64_t warmup = 0;
  double min_lr = 0;
  double weight_decay = 0;
  double max_grad_norm = 1.0;
  std::string optimizer = "adamw";  // --optimizer adamw|adamw_8bit (train/optimizer.hpp)
  // Batches.
  int64_t batch = 4, grad_accum = 1, seq_len = 2048;
  std::optional<int64_t> epochs, iters;
  bool train_on_inputs = false, no_packing = false, truncate = false;
  // Evaluation and checkpoints.
  int64_t eval_every = 0, eval_batches = 0, save_every = 0;
  bool resume = false, overwrite = false;
  uint64_t seed = 0;
  std::string dtype = "auto";            // f32, f16, bf16; auto: see cli::run_dtype
  std::optional<std::string> quantize;   // --quantize (cli/run_setup.hpp)
  std::string grad_checkpoint = "auto";  // on, off, auto (from the memory plan)
  std::optional<std::string> device;
  double bucket_mb = 25;  // under mpirun: the gradient all-reduce's bucket, MB (10^6 bytes)
  bool shard_optimizer = false;  // under mpirun: ZeRO-1, the optimizer state split over the ranks
  nlohmann::json flags;  // every flag's value (cli/flag_values.hpp), for report.html
};

void add_train_options(CLI::App& command, TrainOptions& options);
int run_train(const TrainOptions& options);

}  // namespace vktrain::cli
