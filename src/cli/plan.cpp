#include "cli/plan.hpp"

#include <fmt/format.h>

#include <vector>

#include "base/error.hpp"
#include "cli/run_setup.hpp"
#include "model/layout.hpp"
#include "model/presets.hpp"
#include "train/training_plan.hpp"
#include "vk/context.hpp"

namespace vktrain::cli {

namespace {

double gib(uint64_t bytes) { return double(bytes) / double(1ull << 30); }

std::string join(const std::vector<std::string>& parts, const char* separator) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : separator) + p;
  return out;
}

// What data parallelism over --ranks devices adds: the global batch, and the gradients' all-reduce
// per step (with a sharded optimizer their reduce-scatter and the masters' all-gather, the same
// bytes) with its time at --link-gbps (the wire alone; the staging copies and the ring's latency
// come on top).
void print_data_parallel(const model::MemoryPlan& plan, const PlanOptions& o) {
  const uint64_t sent =
      o.shard_optimizer ? train::ring_pass_bytes_per_rank(plan.gradients, o.ranks) +
                              train::ring_pass_bytes_per_rank(plan.gradients, o.ranks)
                        : train::allreduce_bytes_per_rank(plan.gradients, o.ranks);
  fmt::print("data parallel over {} ranks: the numbers above are per device; a step trains {} x "
             "{} x {} x {} tokens\n",
             o.ranks, o.ranks, o.grad_accum, o.batch, o.seq_len);
  fmt::print("  gradient {} per step: {:.2f} GiB of f32 gradients{}; each rank sends and "
             "receives {:.2f} GiB (ring: {}){}\n",
             o.shard_optimizer ? "reduce-scatter" : "all-reduce", gib(plan.gradients),
             o.shard_optimizer ? ", then the masters' all-gather (sharded optimizer)" : "",
             gib(sent), o.shard_optimizer ? "(N-1)/N each, an all-reduce's bytes" : "2 (N-1)/N",
             o.link_gbps ? fmt::format(", {:.3f} s at {} Gbit/s", double(sent) * 8 /
                                                                   (*o.link_gbps * 1e9),
                                       *o.link_gbps)
                         : std::string("; --link-gbps G gives its time"));
}

// "LoRA rank 16 on 7 modules", or on a mixture of experts "... on 4 modules and 2 expert
// weights": what the adapter finds in the model, not what the flag lists.
std::string lora_mode(const io::ModelConfig& config, const model::LoraConfig& lora) {
  uint64_t modules = 0, experts = 0;
  for (const auto& target : model::applied_lora_targets(config, lora))
    ++(model::is_expert_target(target) ? experts : modules);
  std::string text = fmt::format("LoRA rank {} on {} modules", lora.rank, modules);
  if (experts) text += fmt::format(" and {} expert weights", experts);
  return text;
}

}  // namespace

Recompute parse_grad_checkpoint(const std::string& value) {
  if (value == "on") return Recompute::on;
  if (value == "off") return Recompute::off;
  if (value == "auto") return Recompute::automatic;
  fail("[plan] --grad-checkpoint '{}' is not on, off or auto", value);
}

std::optional<bool> fitting_recompute(const model::MemoryPlan& plan, uint64_t budget,
                                      Recompute mode) {
  bool recompute = mode == Recompute::on ||
                   (mode == Recompute::automatic && model::choose_recompute(plan, budget));
  if (plan.total(recompute) > budget) return std::nullopt;
  return recompute;
}

std::string plan_advice(const model::MemoryPlan& plan, uint64_t budget,
                        const model::ModelSetup& setup, Recompute mode) {
  const double saved = gib(plan.total(false)), recomputed = gib(plan.total(true));
  const double have = gib(budget);
  if (auto recompute = fitting_recompute(plan, budget, mode)) {
    if (!*recompute)
      return fmt::format("fits: {:.2f} GiB of the {:.2f} GiB budget, without recompute", saved,
                         have);
    if (mode == Recompute::on && plan.total(false) <= budget)
      return fmt::format("fits with recompute: {:.2f} GiB of {:.2f} GiB; it would also fit "
                         "without (--grad-checkpoint off is faster, {:.2f} GiB)",
                         recomputed, have, saved);
    return fmt::format("fits only with recompute (activation checkpointing{}): {:.2f} GiB of the "
                       "{:.2f} GiB budget, {:.2f} GiB without it",
                       mode == Recompute::automatic ? ", chosen automatically" : "", recomputed,
                       have, saved);
  }
  if (mode == Recompute::off && plan.total(true) <= budget)
    return fmt::format("does not fit with --grad-checkpoint off ({:.2f} GiB, the budget is "
                       "{:.2f} GiB); with recompute (--grad-checkpoint on or auto) it needs "
                       "{:.2f} GiB and fits",
                       saved, have, recomputed);
  std::vector<std::string> tries;
  if (setup.full)
    tries.push_back(fmt::format("LoRA instead of --full (the f32 master weights, gradients and "
                                "optimizer state of every parameter take {:.2f} GiB)",
                                gib(plan.master + plan.gradients + plan.optimizer)));
  // Smaller batches shrink only the activations and workspace: no help when the weights and
  // their training state alone overflow, and a batch of one row has nothing left to cut but rows.
  const bool state_fits = plan.fixed() <= budget;
  const std::string per_batch = fmt::format("activations and workspace take {:.2f} GiB",
                                            gib(plan.activations_recompute + plan.workspace));
  if (state_fits && plan.batch > 1)
    tries.push_back(fmt::format("a smaller --batch or --seq-len, with --grad-accum to keep the "
                                "tokens per step ({})",
                                per_batch));
  else if (state_fits)
    tries.push_back(fmt::format("a shorter --seq-len ({} at --batch 1)", per_batch));
  if (setup.dtype == DType::f32)
    tries.push_back("--dtype bf16 or f16 (halves the weights and activations)");
  tries.push_back(state_fits ? std::string("a smaller model")
                             : fmt::format("a smaller model (its weights and training state alone "
                                           "take {:.2f} GiB)",
                                           gib(plan.fixed())));
  return fmt::format("does not fit: {:.2f} GiB even with recompute, the budget is {:.2f} GiB; "
                     "try {}",
                     recomputed, have, join(tries, "; or "));
}

bool require_fits(const model::MemoryPlan& plan, uint64_t budget, const model::ModelSetup& setup,
                  Recompute mode) {
  if (auto recompute = fitting_recompute(plan, budget, mode)) return *recompute;
  fail("[plan] the run does not fit the device's memory: {} (vktrain plan shows each part)",
       plan_advice(plan, budget, setup, mode));
}

int run_plan(const PlanOptions& o) {
  if (o.model && (o.family || o.size))
    fail("[plan] give --model, or --family with --size, not both");
  if (!o.model && !(o.family && o.size))
    fail("[plan] give --model DIR|GGUF, or --family and --size");
  if (o.full && o.lora_rank) fail("[plan] choose --full or --lora-rank, not both");
  for (auto [flag, value] : {std::pair{"--batch", o.batch}, {"--seq-len", o.seq_len},
                             {"--grad-accum", o.grad_accum}})
    if (value <= 0) fail("[plan] {} must be positive, got {}", flag, value);
  if (o.ranks < 1 || o.ranks > 1 << 20) fail("[plan] --ranks must lie in 1..1048576, got {}", o.ranks);
  if (o.link_gbps && !(*o.link_gbps > 0))
    fail("[plan] --link-gbps must be positive, got {}", *o.link_gbps);
  if (o.link_gbps && o.ranks == 1) fail("[plan] --link-gbps needs --ranks N above 1");
  if (o.shard_optimizer && o.ranks == 1) fail("[plan] --shard-optimizer needs --ranks N above 1");
  const train::OptimizerKind optimizer = train::parse_optimizer(o.optimizer, "[plan] --optimizer");
  std::optional<io::ModelSource> source;
  if (o.model) source.emplace(*o.model);
  const io::ModelConfig config =
      source ? source->config() : model::model_preset(*o.family, *o.size);
  const Recompute mode = parse_grad_checkpoint(o.grad_checkpoint);
  vk::Context context(context_options(o.device));
  model::ModelSetup setup;
  setup.dtype = run_dtype(context, o.dtype);
  setup.full = o.full;
  if (!o.full) {
    setup.lora.rank = o.lora_rank.value_or(TrainOptions{}.lora_rank);
    if (setup.lora.rank <= 0) fail("[plan] --lora-rank must be positive, got {}", setup.lora.rank);
    setup.lora.targets = model::parse_lora_targets(o.lora_targets);
    setup.lora.dropout = o.lora_dropout;
  }
  setup.quantized =
      quantized_base(config, source ? &*source : nullptr, o.quantize, setup.dtype).types;
  model::check_model_setup(setup);
  // --device-memory plans for a GPU even where this machine has only a CPU driver: the ops size
  // their scratch by the kind of device (the cross-entropy chunk is 1 GiB of logits on GPUs,
  // 64 MiB on CPU drivers; a quantized weight's slabs exist only on GPUs), and a 70B QLoRA plan
  // made on lavapipe said 43.86 GiB where the H100's said 46.28 and the run took 45.21.
  vk::Capabilities planned = context.caps();
  if (o.device_memory && !planned.is_gpu()) planned.type = VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU;
  const model::MemoryPlan plan =
      train::plan_training(config, setup, o.batch, o.seq_len, o.grad_accum, planned, optimizer,
                           o.ranks, o.shard_optimizer);
  // --device-memory plans for a machine the user does not have (a 96 GB Strix Halo, a 24 GB
  // card): its whole memory is the budget.
  const uint64_t budget = o.device_memory ? uint64_t(*o.device_memory * double(1ull << 30))
                                          : model::usable_budget(context);

  const std::string name = o.model ? *o.model : *o.family + " " + *o.size;
  const std::string mode_name = o.full ? std::string("full fine-tuning") : lora_mode(config, setup.lora);
  const std::string quantized =
      setup.quantized.empty() ? ""
                              : fmt::format(" ({} frozen matrices quantized)", setup.quantized.size());
  const std::string device = o.device_memory ? fmt::format("for a {:g} GiB device", *o.device_memory)
                                             : fmt::format("on '{}'", context.caps().name);
  fmt::print("plan: {}, {}, {}{}, {} x {} tokens x {} micro-batch{}, {}\n", name, mode_name,
             dtype_name(setup.dtype), quantized, o.batch, o.seq_len, o.grad_accum,
             o.grad_accum == 1 ? "" : "es", device);
  auto row = [](const std::string& part, uint64_t bytes, const std::string& note = "") {
    fmt::print("  {:<30}{:>10.2f} GiB{}\n", part, gib(bytes), note);
  };
  row("weights", plan.weights);
  row("LoRA adapter", plan.adapter);
  const bool sharded = o.shard_optimizer && o.ranks > 1;
  row("master weights (f32)", plan.master,
      !sharded ? ""
      : setup.dtype == DType::f32
          ? std::string("   whole: in f32 they are the weights themselves")
          : fmt::format("   sharded: 1/{} per device", o.ranks));
  row("gradients (f32)", plan.gradients, sharded ? "   whole: the backward accumulates into them" : "");
  row(optimizer == train::OptimizerKind::adamw ? "optimizer state (AdamW)"
                                               : "optimizer state (AdamW 8-bit)",
      plan.optimizer,
      sharded ? fmt::format("   sharded: 1/{} per device", o.ranks) : "");
  row("activations", plan.activations,
      fmt::format("   with recompute {:.2f} GiB", gib(plan.activations_recompute)));
  row("workspace", plan.workspace);
  // Counted in the total, as the allocator counts it, though on a discrete GPU it is not the
  // device's memory.
  if (o.ranks > 1)
    row("host-visible staging", plan.staging,
        o.device_memory ? std::string("   the gradients' MPI buffers: system memory beside a "
                                      "discrete GPU, the same memory on a unified one")
        : context.caps().type == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU
            ? std::string("   the gradients' MPI buffers, in system memory (a discrete GPU)")
            : std::string("   the gradients' MPI buffers, in the memory this device shares"));
  row("total", plan.total(false),
      fmt::format("   with recompute {:.2f} GiB", gib(plan.total(true))));
  row("device budget", budget);
  if (o.ranks > 1) print_data_parallel(plan, o);
  fmt::print("advice: {}\n", plan_advice(plan, budget, setup, mode));
  return fitting_recompute(plan, budget, mode) ? 0 : 2;
}

}  // namespace vktrain::cli
