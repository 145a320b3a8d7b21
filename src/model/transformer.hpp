#pragma once
// One decoder-only Transformer for every family (arch/family.hpp, DESIGN.md "Architectures"),
// with an explicit forward and backward (decision 1) recorded into a vk::Recorder: record once,
// replay every step (decision 3). Letters as in activations.hpp.
//
// Training modes: LoRA (the adapter's A and B train, the base is frozen), full fine-tuning and
// pre-training (every parameter trains, f32 masters). Per-step inputs (token ids, targets,
// positions, document ids, the dropout seed) are device tensors the host rewrites before each
// replay.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "io/model_config.hpp"
#include "model/activations.hpp"
#include "model/layout.hpp"
#include "model/parameters.hpp"
#include "ops/attention.hpp"
#include "ops/glu.hpp"
#include "ops/moe.hpp"
#include "ops/rmsnorm.hpp"

namespace vktrain::vk {
class Recorder;
}

namespace vktrain::model {

struct ModelSetup {
  DType dtype = DType::f32;  // frozen weights and activations
  LoraConfig lora;           // rank 0: no adapter
  bool full = false;         // every base parameter trains
  // Frozen base matrices kept in a ggml block type on the device (a quantized base: QLoRA),
  // by parameter name (model/quantized.hpp chooses them); the rest are in `dtype`.
  std::map<std::string, DType> quantized;
  // The f32 masters sharded over the ranks of a data-parallel job (ZeRO-1, f16/bf16 runs):
  // this process keeps shard `master_shard` of `master_shards` (Parameters).
  int64_t master_shard = 0, master_shards = 1;
};

// Fails with one line when the setup cannot run: LoRA and full fine-tuning together, full
// fine-tuning on a quantized base, a dtype that is not a float type.
void check_model_setup(const ModelSetup& setup);

// One micro-batch on the device, all i32 [B, T]:
//   ids        token ids
//   targets    the label of the NEXT token (shifted on the host), negative = no loss
//   positions  RoPE positions; packed documents restart at 0
//   documents  a token attends only to earlier tokens of its own document
//   order      [N] the tokens sorted by id (embedding backward; only when the embedding trains)
//   token_mask [N] 0 for padding (document -1), 1 for a token: what the routers' load-balancing
//              loss counts (only when the model adds that loss)
struct BatchTensors {
  Tensor ids, targets, positions, documents, order, token_mask;
};

class Transformer {
 public:
  Transformer(vk::Context& context, const io::ModelConfig& config, const ModelSetup& setup);
  Transformer(const Transformer&) = delete;
  Transformer& operator=(const Transformer&) = delete;

  vk::Context& context() const { return context_; }
  const io::ModelConfig& config() const { return config_; }
  const ModelSetup& setup() const { return setup_; }
  Parameters& parameters() { return *params_; }
  const Parameters& parameters() const { return *params_; }
  bool embedding_trains() const;

  // The device tensors of a B x T micro-batch; train/batch_upload.hpp fills them from the host.
  BatchTensors make_batch(int64_t batch, int64_t time) const;
  // The dropout seed (i32 [1], 0 at first) every LoRA dropout mask of a step derives from.
  Tensor& dropout_seed() { return dropout_seed_; }

  // The forward pass of one micro-batch up to the final norm (acts.final_norm). `training`
  // saves what the backward needs and applies LoRA dropout; `micro` (the micro-batch index
  // within a step) gives each micro-batch its own dropout masks.
  void record_forward(vk::Recorder& rec, Activations& acts, const BatchTensors& batch,
                      bool training, uint32_t micro = 0);
  // After record_forward(training): adds the batch's summed token loss into acts.loss and the
  // gradients of the loss (scaled by acts.grad_scale) into the gradient arena; a router
  // load-balancing loss, weighted acts.moe_aux_weight, joins both (acts.loss over grad_scale).
  // `after_layer`, when given, is called once the backward of each layer is recorded (layers
  // L-1 down to 0) and returns the recording to go on in: data-parallel training ends a
  // submission there and reduces the gradients that are final while the rest runs.
  using LayerDone = std::function<vk::Recorder*(int64_t layer)>;
  void record_backward(vk::Recorder& rec, Activations& acts, const BatchTensors& batch,
                       uint32_t micro = 0, const LayerDone& after_layer = {});
  // After record_forward: adds the summed token loss into acts.loss (evaluation), and a router
  // load-balancing loss times the batch's targets (writing acts.grad_scale).
  void record_loss(vk::Recorder& rec, Activations& acts, const BatchTensors& batch);
  // After record_forward: logits [N, V] f32 (tests, generation).
  void record_logits(vk::Recorder& rec, Tensor& logits, const Activations& acts);

  // What the layer math reads besides the parameters, for forward passes recorded outside this
  // class (model/decode_layer.cpp's one-token step).
  const Tensor& lm_head() const;
  const Tensor& inverse_frequencies(int64_t layer) const;  // f32 [D / 2]
  ops::GluActivation activation() const;
  ops::RmsnormOptions norm_options() const;
  float embedding_scale() const;  // 1, or sqrt(C) (Gemma)
  // y = the projection `module` of layer `layer` applied to x, without dropout (inference).
  void record_projection(vk::Recorder& rec, Tensor& y, const Tensor& x, int64_t layer,
                         const char* module) const;
  // A layer from its attention output a.attention on: o_proj, the residual from x (through the
  // post-attention norm with sandwich norms), then the FFN block into `out`. layer_forward and
  // the one-token decode layer share it.
  // `aux`: the load-balancing loss's statistics this layer's router adds (ops/moe.hpp).
  void record_layer_tail(vk::Recorder& rec, LayerActivations& a, const Tensor& x, Tensor& out,
                         int64_t layer, bool training, uint32_t micro,
                         const ops::MoeAux& aux = {}) const;

 private:
  struct Projection;
  // `saved`: where a training forward keeps the adapter's u for the backward (null: nowhere).
  Projection projection(int64_t layer, const char* module, uint32_t micro, bool training,
                        LayerActivations* saved) const;
  // `replay`: the forward recomputed inside the backward, which adds no router statistics.
  void layer_forward(vk::Recorder& rec, Activations& acts, int64_t l, const BatchTensors& batch,
                     bool training, uint32_t micro, bool replay = false);
  void layer_backward(vk::Recorder& rec, Activations& acts, int64_t l, const BatchTensors& batch,
                      uint32_t micro);
  const Tensor& weight(const std::string& name) const { return params_->at(name).weight; }
  ops::AttentionOptions attention_options(int64_t layer, const BatchTensors& batch) const;
  // The weights, gradients and options of layer l's mixture-of-experts block.
  ops::MoeBlockWeights moe_weights(int64_t layer) const;
  ops::MoeBlockGradients moe_gradients(int64_t layer, std::vector<Tensor>& views) const;
  ops::MoeBlockOptions moe_options() const;
  // The load-balancing loss's share of layer l (empty: none).
  ops::MoeAux moe_aux(Activations& acts, const BatchTensors& batch, int64_t layer) const;

  vk::Context& context_;
  io::ModelConfig config_;
  ModelSetup setup_;
  std::unique_ptr<Parameters> params_;
  Tensor inv_freq_global_, inv_freq_local_;  // f32 [D / 2]
  Tensor dropout_seed_;                      // i32 [1]
};

}  // namespace vktrain::model
