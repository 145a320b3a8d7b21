#pragma once
// One mixture-of-experts feed-forward block (Qwen3-MoE, Mixtral; gpt-oss's router), composed of
// the moe ops:
//   logits = x Wr^T (+ br)                       router  [T, E]
//   ids, w = route(logits)                       ops/moe_router.hpp
//   xe = x grouped by expert                     ops/moe_group.hpp
//   h = act(xe Wg[e]^T) * (xe Wu[e]^T)           ops/moe_matmul.hpp, ops/glu.hpp
//   y = sum_j w_j * (h Wd[e]^T)                  combine, in token order
// Letters: T tokens, C hidden size, F expert intermediate size, E experts, k experts per token,
// S = T * k. Weights in transformers' fused layout: gate_up [E, 2F, C] (gate rows [0, F), up
// rows [F, 2F)), down [E, C, F], router [E, C] (x's dtype), router bias [E] f32. Activations x,
// y and the scratch's in one dtype (f32, f16 or bf16); router logits and weights in f32.
// gpt-oss: router bias, expert biases gate_up_bias [E, 2F] and down_bias [E, C] (f32), and its
// clamped SwiGLU (ops/moe_swiglu.hpp); its checkpoint's gate_up_proj is [E, C, 2F] with gate and
// up interleaved by column: a loader transposes and de-interleaves it into this layout.
#include <vector>

#include "ops/glu.hpp"
#include "ops/gradient_store.hpp"
#include "ops/moe_lora.hpp"
#include "ops/moe_router.hpp"
#include "ops/moe_swiglu.hpp"
#include "ops/tensor.hpp"
#include "vk/recorder.hpp"

namespace vktrain::ops {

struct MoeBlockShape {
  uint64_t tokens = 0, hidden = 0, intermediate = 0, experts = 0, k = 0;
};

struct MoeBlockWeights {
  const Tensor* router = nullptr;        // [E, C]
  const Tensor* router_bias = nullptr;   // [E] f32, or null
  const Tensor* gate_up = nullptr;       // [E, 2F, C]
  const Tensor* down = nullptr;          // [E, C, F]
  const Tensor* gate_up_bias = nullptr;  // [E, 2F] f32, or null
  const Tensor* down_bias = nullptr;     // [E, C] f32, or null
  MoeExpertLora gate_up_lora, down_lora;  // LoRA on the experts (ops/moe_lora.hpp), or none
};

// Parameter gradients the backward adds into; null: that parameter is frozen. router: f32 or
// x's dtype; gate_up, down: f32 or x's dtype; router_bias f32.
struct MoeBlockGradients {
  Tensor* router = nullptr;
  Tensor* router_bias = nullptr;
  Tensor* gate_up = nullptr;
  Tensor* down = nullptr;
  Tensor* gate_up_bias = nullptr;
  Tensor* down_bias = nullptr;
  MoeExpertLoraGradients gate_up_lora, down_lora;
};

struct MoeBlockOptions {
  MoeRouter router;
  GluActivation activation = GluActivation::silu;
  bool clamped_swiglu = false;  // gpt-oss: ops/moe_swiglu.hpp instead of `activation`
  SwigluClamp clamp;
};

// The load-balancing loss's share of one block: its statistics tensor [2, E + 1] f32
// (ops/moe_aux), summed over the step's layers. The forward adds this block's statistics (writes
// them where `first_layer`); the backward adds the loss's gradient (coefficient:
// router_aux_loss_coef times the loss's weight). token_mask: i32 [T], 0 for padding, or null.
struct MoeAux {
  Tensor* stats = nullptr;  // null: no auxiliary loss
  bool first_layer = false;
  float coefficient = 0.0f;
  const Tensor* token_mask = nullptr;
};

// What the forward keeps for the backward, and the backward's own buffers: one tensor per slot.
enum class MoeScratchSlot {
  logits,
  ids,
  weights,
  probs,
  offsets,
  rows,
  positions,
  group_counts,
  xe,
  gate,
  up,
  h,
  ye,
  // backward only
  dweights,
  dlogits,
  dlogits_cast,
  dye,
  dh,
  dgate,
  dup,
  dxe,
  count
};

struct MoeScratch {
  std::vector<Tensor> tensors;  // indexed by MoeScratchSlot
  Tensor& operator[](MoeScratchSlot slot) { return tensors[size_t(slot)]; }
  const Tensor& operator[](MoeScratchSlot slot) const { return tensors[size_t(slot)]; }
};

// Device bytes of the scratch of one block (with the backward's buffers where `backward`), for
// the memory plan; make_moe_scratch allocates exactly these tensors.
uint64_t moe_scratch_bytes(const MoeBlockShape& shape, DType activations, bool backward);
MoeScratch make_moe_scratch(vk::Context& context, const MoeBlockShape& shape, DType activations,
                            bool backward);
// Device bytes one moe_forward (or moe_backward where `backward`) call records into scratch of
// its own for expert adapters of ranks gate_up_rank and down_rank (0: not adapted), kept for the
// recording's life: u [S, r] per adapter, and du [S, r] in the backward (which recomputes u).
uint64_t moe_lora_scratch_bytes(const MoeBlockShape& shape, DType activations,
                                uint64_t gate_up_rank, uint64_t down_rank, bool backward);

// y [T, C] = the block applied to x [T, C].
void moe_forward(vk::Recorder& rec, Tensor& y, MoeScratch& scratch, const Tensor& x,
                 const MoeBlockWeights& weights, const MoeBlockShape& shape,
                 const MoeBlockOptions& options, const MoeAux& aux = {});

// dx [T, C] (+)= the block's input gradient for dy [T, C]; parameter gradients added into
// `grads`. Reads the scratch the forward left.
void moe_backward(vk::Recorder& rec, Tensor& dx, const MoeBlockGradients& grads,
                  MoeScratch& scratch, const Tensor& dy, const Tensor& x,
                  const MoeBlockWeights& weights, const MoeBlockShape& shape,
                  const MoeBlockOptions& options, const MoeAux& aux = {},
                  GradientStore store = GradientStore::add);

}  // namespace vktrain::ops
