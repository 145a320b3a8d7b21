#pragma once
// `vktrain plan`: the device memory a training run would take, part by part, against the device's
// budget, with advice in plain words; and the check `vktrain train` runs before it allocates
// anything (require_fits), whose error carries the same advice.
#include <cstdint>
#include <optional>
#include <string>

#include "cli/train.hpp"
#include "model/memory_plan.hpp"
#include "model/transformer.hpp"

namespace vktrain::cli {

// --grad-checkpoint: recompute activations in the backward pass always, never, or only when
// the step does not fit without it (DESIGN.md decision 7).
enum class Recompute { off, on, automatic };
Recompute parse_grad_checkpoint(const std::string& value);  // on, off, auto; fails naming the flag

// Whether the run fits, and with recompute or not; nullopt when it does not fit as asked.
std::optional<bool> fitting_recompute(const model::MemoryPlan& plan, uint64_t budget,
                                      Recompute mode);

// One line: fits (with or without recompute, and how much of the budget), or does not fit and
// what to try: LoRA instead of --full, a smaller --batch or --seq-len, --dtype bf16/f16, a
// smaller model.
std::string plan_advice(const model::MemoryPlan& plan, uint64_t budget,
                        const model::ModelSetup& setup, Recompute mode);

// The recompute setting to train with; when the run does not fit, one error whose message holds
// plan_advice().
bool require_fits(const model::MemoryPlan& plan, uint64_t budget, const model::ModelSetup& setup,
                  Recompute mode);

// Defaults are `vktrain train`'s, so a plan answers for the run train would make with the same
// flags.
struct PlanOptions {
  std::optional<std::string> model;   // --model DIR|GGUF: its config only, no weights read
  std::optional<std::string> family;  // --family with --size: a preset (model/presets.hpp)
  std::optional<std::string> size;
  std::optional<int64_t> lora_rank;   // --lora-rank R (default: train's)
  std::string lora_targets = TrainOptions{}.lora_targets;  // --lora-targets
  float lora_dropout = TrainOptions{}.lora_dropout;  // a mask costs [N, in] per adapted call
  bool full = false;                                 // --full: every parameter trains
  int64_t batch = TrainOptions{}.batch;              // --batch B
  int64_t seq_len = TrainOptions{}.seq_len;          // --seq-len T
  int64_t grad_accum = TrainOptions{}.grad_accum;    // --grad-accum K (micro-batches per step)
  std::string dtype = TrainOptions{}.dtype;          // --dtype f32, bf16, f16 or auto (run_dtype)
  std::string grad_checkpoint = TrainOptions{}.grad_checkpoint;  // on, off or auto
  std::optional<std::string> device;  // --device index or name substring
  int64_t ranks = 1;                   // --ranks N: data parallel over N devices
  std::optional<double> link_gbps;     // --link-gbps G: the slowest link between ranks
  bool shard_optimizer = false;        // --shard-optimizer: its state split over the ranks
  std::string optimizer = TrainOptions{}.optimizer;  // --optimizer adamw|adamw_8bit
  std::optional<std::string> quantize;  // --quantize (cli/run_setup.hpp)
  std::optional<double> device_memory;  // --device-memory GIB: plan for that much, not this device
};

// Prints the table and the advice; returns 0 when the run fits, 2 when it does not.
int run_plan(const PlanOptions& options);

}  // namespace vktrain::cli
