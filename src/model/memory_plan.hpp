#pragma once
// How much device memory a training run takes, part by part, before anything is allocated
// (DESIGN.md decision 7; `vktrain plan`, and `vktrain train` before it builds the model). The
// numbers follow the allocations themselves: the parameter table's rules (parameters.hpp), the
// activation table (activations.hpp: activation_bytes, with the experts' scratch as
// ops::moe_scratch_bytes gives it), the per-micro-batch inputs of
// train::TrainingStep, and the scratch that ops keep alive as long as a recording (the
// cross-entropy logits chunk, LoRA's per-call hidden and dropout tensors, attention's delta,
// the dw partial sums of norms and biases), each as the op itself says (its *_scratch_bytes or
// cross_entropy_chunk_rows), rounded as the allocator rounds it.
// tests/model/memory_plan_test.cpp holds the plan to the allocator's measured peak.
#include <cstdint>

#include "io/model_config.hpp"
#include "model/transformer.hpp"
#include "vk/capabilities.hpp"

namespace vktrain::vk {
class Context;
}

namespace vktrain::model {

struct MemoryPlan {
  uint64_t weights = 0;    // what the forward reads of the base model (matrices in the run's dtype,
                           // norms and biases f32; f32 weights that train are views of `master`),
                           // and the RoPE tables
  uint64_t adapter = 0;    // LoRA A and B compute copies (f16/bf16 runs; f32 ones view `master`)
  uint64_t master = 0;     // f32 master copy of every trainable parameter
  uint64_t gradients = 0;  // f32 gradients of the trainable parameters
  uint64_t optimizer = 0;  // the optimizer's state: train::plan_training asks the optimizer
  uint64_t activations = 0;            // saved activations, one set per layer
  uint64_t activations_recompute = 0;  // with recompute: one set, plus the scratch of the
                                       // forward replayed inside the backward
  uint64_t workspace = 0;  // per micro-batch inputs and the scratch the step's and the
                           // evaluation's recordings keep (logits chunks, LoRA, partial sums)
  // Host-visible buffers of a data-parallel step (train::plan_training): the ring that stages
  // the gradients' buckets for MPI, and the sharded optimizer's norm exchange. System memory on
  // a discrete GPU, the device's own memory on a unified one; the allocator counts it either way.
  uint64_t staging = 0;
  int64_t batch = 1, seq = 1;  // the micro-batch planned, so advice knows what can shrink

  uint64_t fixed() const { return weights + adapter + master + gradients + optimizer; }
  uint64_t total(bool recompute) const {
    return fixed() + (recompute ? activations_recompute : activations) + workspace + staging;
  }
};

// The plan of a training step, all but the optimizer's state (train::plan_training adds it), of `micro_batches` micro-batches of [batch, seq] tokens on
// `device` (its kind sets the logits chunk, its allocation limit the arena chunks), with one
// evaluation recording as train::TrainingStep::evaluate makes.
MemoryPlan plan_memory(const io::ModelConfig& config, const ModelSetup& setup, int64_t batch,
                       int64_t seq, int64_t micro_batches, const vk::Capabilities& device);

// The bytes training may use on the context's device: the budgets of the heaps the allocator
// places device tensors in. Device-local heaps always; on devices that share the host's memory
// (integrated GPUs, CPU drivers) also the host-visible heaps the allocator falls back to, which
// are as fast there. On a discrete GPU the fallback crosses PCIe and does not count.
uint64_t usable_budget(const vk::Context& context);

// Recompute (activation checkpointing) when the step does not fit the budget without it.
bool choose_recompute(const MemoryPlan& plan, uint64_t budget_bytes);

}  // namespace vktrain::model
