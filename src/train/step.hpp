#pragma once
// One optimizer step recorded once and replayed (DESIGN.md decision 3): zero the gradients; for
// each of K micro-batches the forward and the backward (gradients accumulate); the global
// gradient norm; the optimizer's update (AdamW with clipping, train/optimizer.hpp); the refresh of compute copies from the f32 masters. The
// host only rewrites the inputs (token ids, targets, positions, documents), the optimizer's step
// values and the dropout seed before each replay.
//
// No synchronous transfer per step: the host writes a step's inputs with memcpy into one of two
// host-visible input slots, and a small recording per slot copies them into the device tensors
// the kernels read (device-local on discrete GPUs) just ahead of the step's recording. The step
// ends with copies of its three result scalars into host-visible readback memory. So while step
// n runs, the host can build step n+1's batches and write them into the other slot (prepare);
// submitting n+1 still waits for finish(n), which reads n's results.
//
// Data parallel over MPI (train/communicator.hpp): the step is one rank's part of a global step
// of N x K micro-batches, rank r training micro-batches r K .. r K + K - 1 with their global
// indices (so their dropout masks are those of one rank accumulating all N x K). The gradients
// are summed over the ranks in buckets overlapped with the backward (gradient_buckets.hpp): the
// forward and backward are recorded as several submissions, cut where a bucket's gradients
// become final in the last micro-batch's backward, each followed by a small submission that
// copies the bucket into host-visible staging, one of a ring of bucket-sized buffers
// (gradient_buckets.hpp: staging_ring). They are submitted as far ahead as the ring allows;
// finish() waits for them in order and starts each bucket's MPI sum (MPI_Iallreduce) as soon as
// its copy is done, while the device goes on with the layers below. Once a bucket's sum is in,
// a submission uploads it back into the gradient arena, which frees its buffer for the bucket
// after next in the ring (the queue orders the upload before the overwriting download). After
// the last upload the update (clipping, optimizer, refresh) runs.
// On two ranks each element's sum is a + b however MPI forms it, so the buckets do not change
// the result by a bit; on more, Open MPI picks its reduction algorithm by message size, so the
// bucket size may change the rounding of the sums (the same from run to run). The mean's 1/count over all N x K micro-batches comes
// from the host, which sees every micro-batch; the loss is summed over the ranks. So the norm,
// the clipping and the update are those of one rank with N x K micro-batches.
//
// With the optimizer sharded (ZeRO-1, train/optimizer.hpp) each bucket is reduce-scattered
// instead (MPI_Ireduce_scatter), overlapped the same way: each rank receives only the sums of
// its shard's part of the bucket and uploads only those. The clipping norm comes from the
// shards: each device forms its shard's squared norm, the host sums the ranks' in f64 in rank
// order (Communicator::sum: the same bits on every rank and run) and writes the total back for
// the update, one scalar's round trip. Each rank updates its shard of the masters; bucket by
// bucket through the same ring, a submission copies its part into staging, the host gathers
// every rank's part into every rank's staging (MPI_Iallgatherv, in place) and a submission
// uploads the bucket's masters; a last one refreshes the compute copies. In f16/bf16 runs each
// rank keeps only its shard of the masters (model::Parameters) and the gathered masters go
// straight from staging into the compute copies, bucket by bucket (as DeepSpeed's ZeRO-1
// all-gathers the parameters; here they travel in f32, which a compute copy is converted from
// exactly as one rank converts its whole master). The reduce-scatter and the all-gather move (N - 1) / N of the
// arena each, the all-reduce's 2 (N - 1) / N together. The norm is summed in another order
// than one rank's (per shard, then over the shards), so it may differ from one rank's in the
// last bits (by 4e-8, relative, on cli.mpi_zero_same's model), and the clipped update with it.
//
// The loss is the mean over every target of the K micro-batches (transformers' loss over one
// batch of K x B rows): the 1/count is computed on the device from all K target tensors.
// f16 activations: gradients of the mean underflow f16 (softmax / count), so the loss gradient is
// multiplied by a power-of-two loss scale and the f32 gradients are divided by it (exactly)
// before clipping; bf16 and f32 need none.
// A mixture-of-experts model's router load-balancing loss (ops/moe_aux.hpp) is added per
// micro-batch with weight 1 / (N x K), to the loss and (loss-scaled) to the gradients: the mean
// over micro-batches (step.cpp says why).
#include <memory>
#include <vector>

#include "data/batch.hpp"
#include "model/activations.hpp"
#include "model/transformer.hpp"
#include "ops/adamw.hpp"
#include "train/communicator.hpp"
#include "train/evaluator.hpp"
#include "train/gradient_buckets.hpp"
#include "train/optimizer.hpp"

namespace vktrain::train {

struct StepShape {
  int64_t batch = 1, time = 1;  // B, T of one micro-batch
  int64_t micro_batches = 1;    // gradient accumulation: K
  bool recompute = false;       // activation checkpointing per layer
  // Distributed: the gradient all-reduce's bucket size (gradient_buckets.hpp).
  uint64_t bucket_bytes = 25'000'000;
};

struct StepResult {
  double loss = 0;          // mean over the step's targets
  double grad_norm = 0;     // before clipping
  int64_t targets = 0;      // tokens that counted
  int64_t tokens = 0;       // tokens processed: every position but padding (data::count_tokens)
  double wait_seconds = 0;  // finish()'s time blocked on the device and, distributed, on MPI
  // Distributed, of wait_seconds: the copies of the gradients to and from host-visible staging;
  // MPI not hidden behind the backward (starting the sums, and waiting for them after the
  // backward: the transport left over and the wait for the slowest rank); the rest is the
  // device's forward, backward and update.
  double staging_seconds = 0, mpi_seconds = 0;
};

class TrainingStep {
 public:
  // `ranks`: the data-parallel job this step is one rank of (null: one rank);
  // `shard_optimizer`: the optimizer's state sharded over its ranks (ZeRO-1); `optimizer`: which
  // one (adamw's hyperparameters serve both).
  TrainingStep(model::Transformer& model, const StepShape& shape, const ops::AdamwOptions& adamw,
               const Communicator* ranks = nullptr, bool shard_optimizer = false,
               OptimizerKind optimizer = OptimizerKind::adamw);
  ~TrainingStep();
  TrainingStep(const TrainingStep&) = delete;
  TrainingStep& operator=(const TrainingStep&) = delete;

  // Writes the inputs of one optimizer step on N x K micro-batches (N ranks; this rank trains
  // its K of them) with learning rate `lr` (`step`
  // counts from 1: AdamW's bias correction) into the input slot that the step in flight, if
  // any, does not read. Everything is checked first (an error names the bad value), so a bad
  // batch writes nothing. A second prepare() before submit() replaces the first.
  void prepare(const std::vector<data::HostBatch>& micro, double lr, int64_t step,
               int32_t dropout_seed);
  // Submits the prepared step; one step is in flight at a time.
  void submit();
  // Waits for the submitted step and returns its results; fails if they are not finite.
  StepResult finish();
  StepResult run(const std::vector<data::HostBatch>& micro, double lr, int64_t step,
                 int32_t dropout_seed) {
    prepare(micro, lr, step, dropout_seed);
    submit();
    return finish();
  }
  // Evaluation on the step's own activation memory (nothing is updated); only while no step is
  // in flight, since it writes the first micro-batch's tensors and the activations.
  Evaluator& evaluator() { return evaluator_; }

  float loss_scale() const { return loss_scale_; }
  Optimizer& optimizer() { return *optimizer_; }
  model::Activations& activations() { return acts_; }

 private:
  bool distributed() const { return ranks_ && ranks_->distributed(); }
  // The forward and backward of the rank's micro-batches, gradients summed in the arena, into
  // parts_ (distributed: cut at the buckets, each followed by its copy to staging).
  void record_gradients();
  // Distributed: waits for parts_ in order, starting each bucket's sum when its copy is done.
  void reduce_gradients(StepResult& result);
  // The squared clipping norm into grad_norm_sq_ (sharded: of this rank's shard), the gradients
  // unscaled first.
  void record_norm(vk::Recorder& rec);
  // Distributed: upload_ and update_ (sharded: the shard's squared norm to the host), and with
  // the optimizer sharded shard_update_ (the global one back, the update, the shard's masters
  // into staging) and gather_.
  void record_distributed_update();
  // The refresh of the compute copies and the results' copy.
  void record_refresh(vk::Recorder& rec);
  // Sharded optimizer: sums the shards' squared norms, updates the shard (shard_update_),
  // gathers the ranks' updated masters bucket by bucket and refreshes (gather_).
  void update_shard(StepResult& result);
  // Distributed: submits parts_ from submitted_ on as far as the staging ring allows, uploading
  // the summed buckets whose buffers the next downloads need. Blocks on MPI only while part
  // `needed` is not submitted yet.
  void submit_parts(size_t needed, StepResult& result);
  // Waits for bucket `index`'s MPI and submits its upload (uploaded_ counts them).
  void upload_next(StepResult& result);
  float* staging_of(size_t bucket) const;

  model::Transformer& model_;
  StepShape shape_;
  const Communicator* ranks_;
  std::unique_ptr<Optimizer> optimizer_;
  float loss_scale_;
  model::Activations acts_;
  std::vector<model::BatchTensors> batches_;
  Evaluator evaluator_;  // on the first micro-batch's tensors and the step's activations
  Tensor grad_norm_sq_;   // f32 [1]
  // One step's inputs in host-visible memory: each micro-batch's arrays (batch_inputs), the
  // optimizer's step values, the dropout seed; `copies` moves them to the tensors the step reads.
  struct InputSlot {
    vk::Allocation memory;
    std::unique_ptr<vk::Recorder> copies;
    int64_t step = 0, targets = 0, tokens = 0;
  };
  InputSlot slots_[2];
  int prepared_ = -1, in_flight_ = -1;  // slot indices, -1: none
  vk::Allocation results_;              // f32 [3] host-visible: loss, grad_scale, grad_norm_sq
  // Sharded optimizer, f32 [2] host-visible: the shard's squared norm, the global one.
  vk::Allocation norm_exchange_;
  // Distributed: the host-visible ring (one span each, for MPI) and the buckets in backward
  // order, bucket i staged in staging_[i % size], with the index in parts_ of the copy that
  // fills it, the recording that uploads its sums (`upload`) and, sharded, those that copy the
  // shard's masters out (`send`) and the gathered ones back (`receive`).
  // Sharded optimizer: each rank's part of the bucket (its shard's) in elements, and where it
  // starts in the bucket, for the gradients' reduce-scatter and the masters' all-gather.
  std::vector<vk::Allocation> staging_;
  struct Bucket {
    GradientBucket range;
    size_t download = 0;
    std::vector<int> shard_counts, shard_offsets;
    std::unique_ptr<vk::Recorder> upload, send, receive;
  };
  std::vector<Bucket> buckets_;
  // The step in flight: parts_ submitted, buckets whose MPI is started (with its ticket) and
  // whose upload is submitted.
  size_t submitted_ = 0, started_ = 0, uploaded_ = 0;
  std::vector<size_t> tickets_;
  // Last, so that they are destroyed first: a Recorder waits for its submission when destroyed,
  // and the step in flight reads and writes everything above. parts_: the step's submissions
  // in order (one rank: one, the whole step); the first owns the workspace that all of them
  // share, so the destructor ends the others first. update_ only when distributed,
  // shard_update_ and gather_ only with the optimizer sharded.
  std::vector<std::unique_ptr<vk::Recorder>> parts_;
  std::unique_ptr<vk::Recorder> update_, shard_update_, gather_;
};

}  // namespace vktrain::train
