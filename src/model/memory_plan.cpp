#include "model/memory_plan.hpp"

#include <algorithm>

#include "arch/family.hpp"
#include "arch/tensor_names.hpp"
#include "model/activations.hpp"
#include "model/expert_tensors.hpp"
#include "model/layout.hpp"
#include "model/rope_frequencies.hpp"
#include "ops/attention.hpp"
#include "ops/column_sum.hpp"
#include "ops/cross_entropy.hpp"
#include "ops/lora.hpp"
#include "ops/matmul.hpp"
#include "ops/moe_matmul.hpp"
#include "ops/rmsnorm.hpp"
#include "ops/dispatch.hpp"
#include "vk/context.hpp"

namespace vktrain::model {

namespace {

using ops::ceil_div;
using vk::allocated_bytes;

uint64_t bytes_of(DType type, uint64_t elements) {
  return allocated_bytes(elements * dtype_size(type));
}

// ops::cross_entropy over N tokens: the f32 logits chunk, with a gradient its dlogits chunk in
// the activation dtype, one f32 loss per token, and the loss's column sum. `head_gradient`: the
// lm_head trains (full fine-tuning), which takes larger chunks.
uint64_t cross_entropy_scratch(uint64_t tokens, uint64_t vocab, DType dtype, bool gradient,
                               bool head_gradient, const vk::Capabilities& device) {
  const uint64_t chunk = ops::cross_entropy_chunk_rows(tokens, vocab, device, head_gradient);
  uint64_t total = bytes_of(DType::f32, chunk * vocab) + bytes_of(DType::f32, tokens) +
                   ops::column_sum_scratch_bytes(tokens, 1);
  if (gradient) total += bytes_of(dtype, chunk * vocab);
  return total;
}

// The largest slab ops::moe_matmul decodes of a block-typed expert weight [E, R, Q]: gate_up's
// gate and up bands (R / 2 rows each) or down's whole R, in both orientations.
uint64_t expert_slab_scratch(const ParameterSpec& spec, DType dtype, DType type) {
  const uint64_t E = uint64_t(spec.shape[0]), R = uint64_t(spec.shape[1]),
                 Q = uint64_t(spec.shape[2]);
  const uint64_t band = spec.name.ends_with(arch::hf::kExpertsGateUp) ? R / 2 : R;
  return std::max(ops::moe_matmul_slab_scratch_bytes(dtype, type, E, band, Q, true),
                  ops::moe_matmul_slab_scratch_bytes(dtype, type, E, band, Q, false));
}

// What ops::linear_forward (`forward`) or linear_backward keeps for the adapted calls of every
// layer: a training forward writes u into LayerActivations::lora_hidden, an evaluation forward
// keeps its own, a training backward reads the forward's. The experts' adapters keep theirs in
// ops::moe_forward / moe_backward.
uint64_t lora_scratch(const io::ModelConfig& c, const ModelSetup& setup, uint64_t tokens,
                      bool forward, bool training, bool dropout) {
  if (setup.lora.rank <= 0) return 0;
  const uint64_t R = uint64_t(setup.lora.rank);
  uint64_t total = 0;
  for (const auto& spec : lora_parameters(c, setup.lora)) {
    if (!spec.name.ends_with(".lora_A.weight") || spec.shape.size() != 2) continue;
    const uint64_t in = uint64_t(spec.shape[1]);
    total += forward ? ops::linear_forward_scratch_bytes(setup.dtype, tokens, in, R, training, dropout)
                     : ops::linear_backward_scratch_bytes(setup.dtype, tokens, in, R, true, dropout);
  }
  const uint64_t gate_up = targets_expert(setup.lora, io::kExpertTargets[0]) ? R : 0;
  const uint64_t down = targets_expert(setup.lora, io::kExpertTargets[1]) ? R : 0;
  for (int64_t l = 0; l < c.num_layers; ++l)
    if (c.moe_layer(l))
      total += ops::moe_lora_scratch_bytes(moe_block_shape(c, int64_t(tokens)), setup.dtype,
                                           gate_up, down, !forward);
  return total;
}

// The backward of one layer in full fine-tuning: the dw partial sums of its norms and the
// column sums of its q/k/v (and o) biases and of a router's bias.
uint64_t full_layer_scratch(const io::ModelConfig& c, uint64_t tokens) {
  const uint64_t C = uint64_t(c.hidden_size), D = uint64_t(c.head_dim);
  uint64_t total = 2 * ops::rmsnorm_backward_scratch_bytes(tokens, C);  // input and FFN norms
  if (c.sandwich_norms) total += 2 * ops::rmsnorm_backward_scratch_bytes(tokens, C);
  if (c.qk_norm)
    total += ops::rmsnorm_backward_scratch_bytes(tokens * uint64_t(c.num_heads), D) +
             ops::rmsnorm_backward_scratch_bytes(tokens * uint64_t(c.num_kv_heads), D);
  if (c.attention_bias)
    for (const char* module : {"q_proj", "k_proj", "v_proj"})
      total += ops::column_sum_scratch_bytes(tokens, uint64_t(projection_shape(c, module).first));
  if (c.output_bias) total += ops::column_sum_scratch_bytes(tokens, uint64_t(c.hidden_size));
  if (c.any_moe_layer() && !arch::describe(c.family).experts.router_bias.empty())
    total += ops::column_sum_scratch_bytes(tokens, uint64_t(c.moe.experts));
  return total;
}

}  // namespace

MemoryPlan plan_memory(const io::ModelConfig& c, const ModelSetup& setup, int64_t batch,
                       int64_t seq, int64_t micro_batches, const vk::Capabilities& device) {
  MemoryPlan plan;
  plan.batch = batch;
  plan.seq = seq;
  const uint64_t N = uint64_t(batch * seq), K = uint64_t(micro_batches);
  const uint64_t L = uint64_t(c.num_layers), V = uint64_t(c.vocab_size);

  // The parameter table (parameters.cpp): trainable parameters on whole arena rows, in chunks of
  // at most one allocation (and 1 GiB) cut at parameter boundaries.
  const uint64_t max_chunk_rows = std::max<uint64_t>(
      1, std::min<uint64_t>(device.max_allocation, 1ull << 30) / (kArenaRow * 4));
  std::vector<ParameterSpec> specs = base_parameters(c);
  for (auto& spec : lora_parameters(c, setup.lora)) specs.push_back(std::move(spec));
  std::vector<uint64_t> chunks;
  uint64_t chunk = 0, rows = 0;
  bool embedding_trains = false;
  // Sharded masters (Parameters): every trainable weight a compute copy, the f32 norms too.
  const bool sharded = setup.master_shards > 1 && setup.dtype != DType::f32;
  for (const auto& spec : specs) {
    const bool lora = is_lora_parameter(spec.name);
    const bool trainable = setup.full || lora;
    DType type = spec.matrix() ? setup.dtype : DType::f32;
    if (auto block = setup.quantized.find(spec.name); block != setup.quantized.end())
      type = block->second;  // whole blocks per row (a quantized base)
    if (trainable) {
      const uint64_t r = ceil_div(spec.elements(), uint64_t(kArenaRow));
      if (chunk != 0 && chunk + r > max_chunk_rows) {
        chunks.push_back(chunk);
        chunk = 0;
      }
      chunk += r;
      rows += r;
      embedding_trains |= spec.name == "model.embed_tokens.weight";
    }
    if (trainable && type == DType::f32 && !sharded) continue;  // a view of the master
    const uint64_t cols = uint64_t(spec.shape.back());
    (lora ? plan.adapter : plan.weights) +=
        allocated_bytes(dtype_bytes(type, cols) * (spec.elements() / cols));
  }
  if (chunk) chunks.push_back(chunk);
  const uint64_t arena = rows * uint64_t(kArenaRow) * 4;
  // Sharded, rank 0's rows: the most any rank holds.
  plan.master = sharded && rows > 0
                    ? bytes_of(DType::f32,
                               arena_shard(rows * uint64_t(kArenaRow), 0, setup.master_shards).count)
                    : arena;
  plan.gradients = arena;
  // The RoPE tables (one global, one local where layers use it) and the dropout seed.
  bool global = false, local = false;
  for (int64_t l = 0; l < c.num_layers; ++l) (uses_local_rope(c, l) ? local : global) = true;
  plan.weights += (uint64_t(global) + uint64_t(local)) * bytes_of(DType::f32, c.head_dim / 2) +
                  bytes_of(DType::i32, 1);

  // Activations, and what recompute adds: the scratch of the forward replayed per layer.
  const bool dropout = setup.lora.dropout > 0;
  const int64_t rank = setup.lora.rank;
  plan.activations = activation_bytes(c, setup.dtype, batch, seq, false, rank);
  plan.activations_recompute = activation_bytes(c, setup.dtype, batch, seq, true, rank) +
                               K * lora_scratch(c, setup, N, true, true, dropout);

  // The step (train/step.cpp): per micro-batch inputs, the step values, the squared gradient
  // norm, the label count and the norm's partial sums (one piece per arena chunk); its two
  // host-visible input slots (all of the inputs, the step values and the dropout seed) and its
  // results (host memory on a discrete GPU, counted anyway: the allocator's peak counts them).
  const bool token_mask = c.router_loss();  // BatchTensors::token_mask
  const uint64_t arrays = K * (4 + uint64_t(embedding_trains) + uint64_t(token_mask));
  uint64_t w = arrays * bytes_of(DType::i32, N);
  w += bytes_of(DType::f32, 3) + bytes_of(DType::f32, 1) + bytes_of(DType::i32, 1);
  w += 2 * bytes_of(DType::i32, arrays * N + 3 + 1) + bytes_of(DType::f32, 3);
  uint64_t groups = 0;
  for (uint64_t r : chunks)
    groups += std::clamp<uint64_t>(ceil_div(r * uint64_t(kArenaRow), 256), 1,
                                   std::min<uint64_t>(1024, device.max_workgroup_count[0]));
  w += bytes_of(DType::f32, std::max<uint64_t>(groups, 1));
  // Every micro-batch's forward and backward keep their own scratch for the recording's life.
  uint64_t per_micro = cross_entropy_scratch(N, V, setup.dtype, true, setup.full, device);
  if (setup.full) per_micro += ops::rmsnorm_backward_scratch_bytes(N, uint64_t(c.hidden_size));
  uint64_t per_layer = ops::attention_backward_scratch_bytes(N, uint64_t(c.num_heads));
  if (setup.full) per_layer += full_layer_scratch(c, N);
  w += K * (per_micro + L * per_layer + lora_scratch(c, setup, N, true, true, dropout) +
            lora_scratch(c, setup, N, false, true, dropout));
  // The evaluation recording (TrainingStep::evaluate): a forward without dropout and the loss.
  w += lora_scratch(c, setup, N, true, false, false) +
       cross_entropy_scratch(N, V, setup.dtype, false, false, device);
  // A quantized base's products decode slabs of their weights into each recording's workspace
  // (ops::matmul on GPUs): the step's and the evaluation's.
  uint64_t slab = 0;
  for (const auto& spec : base_parameters(c))
    if (auto block = setup.quantized.find(spec.name); block != setup.quantized.end())
      slab = std::max(slab, is_expert_matrix(spec.name)
                                ? expert_slab_scratch(spec, setup.dtype, block->second)
                                : ops::matmul_slab_scratch_bytes(device, setup.dtype,
                                                                 block->second));
  w += 2 * slab;
  plan.workspace = w;
  return plan;
}

uint64_t usable_budget(const vk::Context& context) {
  const vk::Capabilities& caps = context.caps();
  VkPhysicalDeviceMemoryProperties properties{};
  vkGetPhysicalDeviceMemoryProperties(context.device.physical(), &properties);
  const bool shares_host_memory = caps.type != VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU;
  const VkMemoryPropertyFlags host =
      VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  std::vector<bool> counted(caps.heaps.size(), false);
  for (uint32_t i = 0; i < properties.memoryTypeCount; ++i) {
    const VkMemoryPropertyFlags flags = properties.memoryTypes[i].propertyFlags;
    if (flags & VK_MEMORY_PROPERTY_PROTECTED_BIT) continue;
    const uint32_t heap = properties.memoryTypes[i].heapIndex;
    if (heap >= counted.size()) continue;
    if ((flags & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) ||
        (shares_host_memory && (flags & host) == host))
      counted[heap] = true;
  }
  uint64_t budget = 0;
  for (size_t h = 0; h < counted.size(); ++h)
    if (counted[h]) budget += caps.heaps[h].budget;
  return budget;
}

bool choose_recompute(const MemoryPlan& plan, uint64_t budget_bytes) {
  return plan.total(false) > budget_bytes;
}

}  // namespace vktrain::model
