#include "train/step.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstring>

#include "base/error.hpp"
#include "ops/cross_entropy.hpp"
#include "ops/elementwise.hpp"
#include "ops/reduce.hpp"
#include "train/batch_upload.hpp"
#include "vk/context.hpp"
#include "vk/recorder.hpp"

namespace vktrain::train {

namespace {

// 2^12: dlogits = softmax / count stays above f16's subnormals for counts up to ~10^5 tokens
// while activation gradients (of order 1 per token before the 1/count) stay far below 65504.
constexpr float kF16LossScale = 4096.0f;

// Records copies of t.bytes() bytes from `offset` of `src` into t, span by span.
void record_copy_into(vk::Recorder& rec, const vk::Span& src, uint64_t offset, const Tensor& t) {
  uint64_t left = t.bytes();
  for (const vk::Span& span : t.memory.spans()) {
    uint64_t n = std::min(left, span.bytes);
    rec.copy(src, offset, span, 0, n);
    offset += n;
    left -= n;
  }
}

// A position in an allocation's spans: span i, byte `at` within it.
struct SpanCursor {
  const std::vector<vk::Span>& spans;
  size_t i = 0;
  uint64_t at = 0;
  SpanCursor(const vk::Allocation& a, uint64_t offset) : spans(a.spans()), at(offset) {
    while (i < spans.size() && at >= spans[i].bytes) at -= spans[i++].bytes;
  }
  uint64_t left() const { return spans[i].bytes - at; }
  void advance(uint64_t n) {
    if ((at += n) == spans[i].bytes) ++i, at = 0;
  }
};

// Records copies of `bytes` bytes from byte `from_offset` of `from` into `to` at `to_offset`,
// span by span.
void record_copy(vk::Recorder& rec, const vk::Allocation& from, uint64_t from_offset,
                 const vk::Allocation& to, uint64_t to_offset, uint64_t bytes) {
  SpanCursor a(from, from_offset), b(to, to_offset);
  while (bytes > 0) {
    const uint64_t n = std::min({a.left(), b.left(), bytes});
    rec.copy(a.spans[a.i], a.at, b.spans[b.i], b.at, n);
    a.advance(n);
    b.advance(n);
    bytes -= n;
  }
}

// How long a host wait on the device sleeps before MPI gets to move the started sums on.
constexpr uint64_t kPollNanoseconds = 200'000;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::vector<model::BatchTensors> micro_batch_tensors(const model::Transformer& model,
                                                    const StepShape& shape) {
  std::vector<model::BatchTensors> batches;
  for (int64_t k = 0; k < shape.micro_batches; ++k)
    batches.push_back(model.make_batch(shape.batch, shape.time));
  return batches;
}

}  // namespace

TrainingStep::TrainingStep(model::Transformer& model, const StepShape& shape,
                           const ops::AdamwOptions& adamw, const Communicator* ranks,
                           bool shard_optimizer, OptimizerKind optimizer)
    : model_(model),
      shape_(shape),
      ranks_(ranks),
      optimizer_(make_optimizer(model.parameters(), adamw, shard_optimizer ? ranks : nullptr,
                                optimizer)),
      loss_scale_(model.setup().dtype == DType::f16 ? kF16LossScale : 1.0f),
      acts_(model.context(), model.config(), model.setup().dtype, shape.batch, shape.time,
            shape.recompute, model.setup().lora.rank),
      batches_(micro_batch_tensors(model, shape)),
      evaluator_(model, acts_, batches_[0]) {
  // The router loss of Qwen3MoeForCausalLM is one per forward, a product of two means over the
  // batch's tokens, so K micro-batches cannot give one batch's value without every forward done
  // before the first backward. Each micro-batch's term weighs 1 / (all ranks' micro-batches):
  // the step's loss and gradient are the mean over micro-batches (HF Trainer's rule when it
  // divides the loss by the accumulation steps), so router_aux_loss_coef means the same at any
  // accumulation. Its gradient gets the loss scale that grad_scale gives the cross-entropy's.
  acts_.moe_aux_weight =
      loss_scale_ / float(shape.micro_batches * (ranks ? ranks->size() : 1));
  grad_norm_sq_ = make_tensor(model.context(), DType::f32, {1}, "squared gradient norm");
  results_ = model.context().allocator.allocate(3 * sizeof(float), vk::MemoryKind::readback,
                                                "step results", 3 * sizeof(float));
  if (!distributed()) return;
  if (optimizer_->sharded())
    norm_exchange_ = model.context().allocator.allocate(
        2 * sizeof(float), vk::MemoryKind::readback, "gradient norm exchange", 2 * sizeof(float));
  const StagingRing ring = staging_ring(model.parameters().trainable_elements(),
                                        shape.bucket_bytes, model.context().caps().max_allocation);
  const uint64_t slot_bytes = ring.slot_elements * sizeof(float);
  for (uint64_t i = 0; i < ring.slots; ++i)
    staging_.push_back(model.context().allocator.allocate(slot_bytes, vk::MemoryKind::readback,
                                                          "gradient staging", slot_bytes));
  for (const GradientBucket& range :
       gradient_buckets(model.parameters(), model.config(), shape.bucket_bytes, slot_bytes)) {
    Bucket b{range};
    for (int r = 0; optimizer_->sharded() && r < ranks->size(); ++r) {
      const ArenaRange shard =
          optimizer_shard(model.parameters().trainable_elements(), r, ranks->size());
      const uint64_t first = std::clamp(shard.first, range.first, range.first + range.count);
      const uint64_t end =
          std::clamp(shard.first + shard.count, range.first, range.first + range.count);
      b.shard_counts.push_back(int(end - first));
      b.shard_offsets.push_back(int(first - range.first));
    }
    buckets_.push_back(std::move(b));
  }
}

TrainingStep::~TrainingStep() {
  // Each recording waits for its submission when destroyed; those that share the first part's
  // workspace, submitted after it, end first.
  gather_.reset();
  shard_update_.reset();
  update_.reset();
  while (!parts_.empty()) parts_.pop_back();
}

void TrainingStep::record_gradients() {
  model::Parameters& params = model_.parameters();
  parts_.push_back(std::make_unique<vk::Recorder>(model_.context()));
  vk::Recorder& rec = *parts_.front();
  ops::fill(rec, params.grad_arena(), 0.0f);
  ops::fill(rec, acts_.loss, 0.0f);
  if (!distributed()) {  // else the host writes the global count's 1 / count (prepare)
    std::vector<const Tensor*> targets;
    for (const auto& b : batches_) targets.push_back(&b.targets);
    ops::cross_entropy_grad_scale(rec, acts_.grad_scale, targets);
  }
  if (loss_scale_ != 1.0f) ops::scale(rec, acts_.grad_scale, acts_.grad_scale, loss_scale_);
  const uint32_t first = uint32_t((ranks_ ? ranks_->rank() : 0) * shape_.micro_batches);
  for (uint32_t k = 0; k + 1 < batches_.size(); ++k) {
    model_.record_forward(rec, acts_, batches_[k], true, first + k);
    model_.record_backward(rec, acts_, batches_[k], first + k);
  }
  const uint32_t last = uint32_t(batches_.size() - 1);
  model_.record_forward(rec, acts_, batches_[last], true, first + last);
  if (!distributed()) {
    model_.record_backward(rec, acts_, batches_[last], first + last);
    return;
  }
  // The last micro-batch's backward completes the gradients: after each layer, the buckets that
  // became final are copied to staging, each in a submission of its own (timed apart), and the
  // backward goes on in a new one.
  size_t next = 0;
  auto download_final = [&](int64_t layer) {
    for (; next < buckets_.size() && buckets_[next].range.after_layer == layer; ++next) {
      Bucket& b = buckets_[next];
      parts_.push_back(std::make_unique<vk::Recorder>(model_.context()));
      record_copy(*parts_.back(), params.grad_arena().memory, b.range.first * sizeof(float),
                  staging_[next % staging_.size()], 0, b.range.count * sizeof(float));
      b.download = parts_.size() - 1;
    }
  };
  model_.record_backward(rec, acts_, batches_[last], first + last, [&](int64_t layer) {
    const size_t parts = parts_.size();
    download_final(layer);
    if (parts_.size() != parts) {
      parts_.push_back(std::make_unique<vk::Recorder>(model_.context()));
      parts_.back()->share_workspace(*parts_.front());
    }
    return parts_.back().get();
  });
  download_final(-1);
}

float* TrainingStep::staging_of(size_t bucket) const {
  return static_cast<float*>(staging_[bucket % staging_.size()].spans().front().mapped);
}

void TrainingStep::upload_next(StepResult& result) {
  auto start = std::chrono::steady_clock::now();
  ranks_->wait_until(tickets_[uploaded_]);
  result.mpi_seconds += seconds_since(start);
  buckets_[uploaded_++].upload->submit();
}

void TrainingStep::submit_parts(size_t needed, StepResult& result) {
  const size_t slots = staging_.size();
  size_t bucket = 0;  // the next download's bucket
  while (bucket < buckets_.size() && buckets_[bucket].download < submitted_) ++bucket;
  for (; submitted_ < parts_.size(); ++submitted_) {
    if (bucket < buckets_.size() && buckets_[bucket].download == submitted_) {
      // Its buffer is free once the bucket `slots` before it is uploaded.
      for (; bucket >= slots && uploaded_ <= bucket - slots; ) {
        if (uploaded_ >= started_) return;  // that sum has not started yet
        if (submitted_ > needed && !ranks_->done(tickets_[uploaded_])) return;
        upload_next(result);
      }
      ++bucket;
    }
    parts_[submitted_]->submit();
  }
}

void TrainingStep::reduce_gradients(StepResult& result) {
  size_t part = 0;
  for (const Bucket& b : buckets_) {
    submit_parts(b.download, result);
    for (; part <= b.download; ++part) {
      auto start = std::chrono::steady_clock::now();
      while (!parts_[part]->wait_for(kPollNanoseconds)) {
        ranks_->progress();
        submit_parts(b.download, result);
      }
      if (part == b.download) result.staging_seconds += seconds_since(start);
    }
    auto start = std::chrono::steady_clock::now();
    const std::span<float> values(staging_of(started_), b.range.count);
    tickets_[started_++] = optimizer_->sharded()
                               ? ranks_->start_reduce_scatter(values, b.shard_counts)
                               : ranks_->start_sum(values);
    result.mpi_seconds += seconds_since(start);
  }
  submit_parts(parts_.size(), result);
  for (; part < parts_.size(); ++part) parts_[part]->wait();  // an empty last part
  while (uploaded_ < buckets_.size()) upload_next(result);
  update_->submit();
  auto start = std::chrono::steady_clock::now();
  for (Bucket& b : buckets_) b.upload->wait();
  result.staging_seconds += seconds_since(start);
  update_->wait();
  ranks_->wait_started();
  if (optimizer_->sharded()) update_shard(result);
}

void TrainingStep::update_shard(StepResult& result) {
  // The shards' squared norms, summed in rank order in f64: the same total on every rank.
  auto* norm = static_cast<float*>(norm_exchange_.spans().front().mapped);
  auto start = std::chrono::steady_clock::now();
  norm[1] = float(ranks_->sum(double(norm[0])));
  result.mpi_seconds += seconds_since(start);
  shard_update_->submit();
  shard_update_->wait();
  // Bucket by bucket through the ring: this rank's masters out, everyone's gathered, back in.
  // A buffer is refilled once the bucket before it there has been received (queue order).
  const size_t slots = staging_.size();
  std::vector<size_t> tickets(buckets_.size());
  auto receive = [&](size_t i) {
    auto start = std::chrono::steady_clock::now();
    ranks_->wait_until(tickets[i]);
    result.mpi_seconds += seconds_since(start);
    buckets_[i].receive->submit();
  };
  for (size_t i = 0; i < buckets_.size(); ++i) {
    if (i >= slots) receive(i - slots);
    Bucket& b = buckets_[i];
    start = std::chrono::steady_clock::now();
    b.send->submit();
    b.send->wait();
    result.staging_seconds += seconds_since(start);
    start = std::chrono::steady_clock::now();
    tickets[i] = ranks_->start_gather({staging_of(i), b.range.count}, b.shard_counts,
                                      b.shard_offsets);
    result.mpi_seconds += seconds_since(start);
  }
  for (size_t i = buckets_.size() > slots ? buckets_.size() - slots : 0; i < buckets_.size(); ++i)
    receive(i);
  ranks_->wait_started();
  start = std::chrono::steady_clock::now();
  gather_->submit();
  gather_->wait();
  for (Bucket& b : buckets_) b.receive->wait();
  result.staging_seconds += seconds_since(start);
}

void TrainingStep::record_norm(vk::Recorder& rec) {
  // Sharded, this rank's part of the norm: the gradients of its shard, the only ones summed.
  Tensor* grads = &model_.parameters().grad_arena();
  Tensor shard;
  if (optimizer_->sharded()) {
    const ArenaRange range = optimizer_->updated();
    if (range.count == 0) {  // more ranks than rows: this rank has no part
      ops::fill(rec, grad_norm_sq_, 0.0f);
      return;
    }
    shard = view(*grads, range.first, {int64_t(range.count / model::kArenaRow), model::kArenaRow},
                 grads->name + " (shard)");
    grads = &shard;
  }
  if (loss_scale_ != 1.0f) ops::scale(rec, *grads, *grads, 1.0f / loss_scale_);
  ops::sum_squares(rec, grad_norm_sq_, *grads);
}

void TrainingStep::record_distributed_update() {
  model::Parameters& params = model_.parameters();
  const bool sharded = optimizer_->sharded();
  const size_t rank = size_t(ranks_->rank());
  // Each bucket's sums into the gradient arena; sharded, only this rank's, which
  // start_reduce_scatter left at the start of the bucket's staging, into its shard.
  for (size_t i = 0; i < buckets_.size(); ++i) {
    Bucket& b = buckets_[i];
    const uint64_t at = sharded ? uint64_t(b.shard_offsets[rank]) : 0;
    const uint64_t count = sharded ? uint64_t(b.shard_counts[rank]) : b.range.count;
    b.upload = std::make_unique<vk::Recorder>(model_.context());
    record_copy(*b.upload, staging_[i % staging_.size()], 0, params.grad_arena().memory,
                (b.range.first + at) * sizeof(float), count * sizeof(float));
  }
  update_ = std::make_unique<vk::Recorder>(model_.context());
  update_->share_workspace(*parts_.front());
  record_norm(*update_);
  if (!sharded) {
    optimizer_->record_update(*update_, grad_norm_sq_);
    record_refresh(*update_);
    return;
  }
  // The shard's squared norm out to the host; then the global one back in and the shard's
  // update; per bucket, its masters into the staging at their place in the bucket, and after
  // the gather everyone's masters back; then the refresh.
  const vk::Span& norm = norm_exchange_.spans().front();
  const vk::Span& norm_sq = grad_norm_sq_.memory.spans().front();
  update_->copy(norm_sq, 0, norm, 0, sizeof(float));
  shard_update_ = std::make_unique<vk::Recorder>(model_.context());
  shard_update_->share_workspace(*parts_.front());
  shard_update_->copy(norm, sizeof(float), norm_sq, 0, sizeof(float));
  optimizer_->record_update(*shard_update_, grad_norm_sq_);
  for (size_t i = 0; i < buckets_.size(); ++i) {
    Bucket& b = buckets_[i];
    const vk::Allocation& staging = staging_[i % staging_.size()];
    const uint64_t at = uint64_t(b.shard_offsets[rank]);
    const ArenaRange mine{b.range.first + at, uint64_t(b.shard_counts[rank])};
    b.send = std::make_unique<vk::Recorder>(model_.context());
    if (mine.count > 0)
      record_copy(*b.send, params.master_rows(mine).memory, 0, staging, at * sizeof(float),
                  mine.count * sizeof(float));
    b.receive = std::make_unique<vk::Recorder>(model_.context());
    if (params.masters_sharded()) {
      // Only the compute copies take the other ranks' masters.
      Tensor gathered;
      gathered.dtype = DType::f32;
      gathered.shape = {int64_t(b.range.count)};
      gathered.name = "gathered masters";
      gathered.memory = vk::Allocation(nullptr, staging.spans(), b.range.count * sizeof(float));
      params.record_refresh_from(*b.receive, gathered, {b.range.first, b.range.count});
    } else {
      record_copy(*b.receive, staging, 0, params.master_arena().memory,
                  b.range.first * sizeof(float), b.range.count * sizeof(float));
    }
  }
  gather_ = std::make_unique<vk::Recorder>(model_.context());
  record_refresh(*gather_);
}

void TrainingStep::record_refresh(vk::Recorder& rec) {
  // Sharded masters refresh the copies as they are gathered (record_distributed_update).
  if (!model_.parameters().masters_sharded()) model_.parameters().record_refresh(rec);
  // The results the host reads after the wait (finish), in the recording's host-visible memory.
  const vk::Span& out = results_.spans().front();
  const Tensor* results[] = {&acts_.loss, &acts_.grad_scale, &grad_norm_sq_};
  for (uint64_t i = 0; i < 3; ++i)
    rec.copy(results[i]->memory.spans().front(), 0, out, i * sizeof(float), sizeof(float));
}

void TrainingStep::prepare(const std::vector<data::HostBatch>& micro, double lr, int64_t step,
                           int32_t dropout_seed) {
  const size_t ranks = ranks_ ? size_t(ranks_->size()) : 1;
  if (micro.size() != batches_.size() * ranks)
    fail("[train] a step takes {} micro-batches, got {}", batches_.size() * ranks, micro.size());
  std::vector<std::pair<Tensor*, std::vector<int32_t>>> arrays;
  const size_t first = ranks_ ? size_t(ranks_->rank()) * batches_.size() : 0;
  for (size_t k = 0; k < batches_.size(); ++k)
    for (auto& input : batch_inputs(model_, batches_[k], micro[first + k]))
      arrays.push_back(std::move(input));
  int64_t targets = 0, tokens = 0;  // of the whole step, every rank's micro-batches
  for (const auto& batch : micro) {
    targets += data::count_targets(batch);
    tokens += data::count_tokens(batch);
  }
  // As ops::cross_entropy_grad_scale computes it on one rank.
  const float grad_scale = targets > 0 ? 1.0f / float(targets) : 0.0f;
  const std::vector<float> values = optimizer_->host_step_values(lr, step);
  // Checked; from here on nothing fails but the slot's first allocation.
  const int index = in_flight_ == 0 ? 1 : 0;
  InputSlot& slot = slots_[index];
  uint64_t bytes = values.size() * sizeof(float) + sizeof(dropout_seed);
  if (distributed()) bytes += sizeof(grad_scale);
  for (const auto& [tensor, v] : arrays) bytes += v.size() * sizeof(int32_t);
  const bool record = !slot.copies;
  if (record) {
    // One span (granule = the whole slot), so that one pointer writes it all.
    slot.memory = model_.context().allocator.allocate(bytes, vk::MemoryKind::staging,
                                                      "step input slot", bytes);
    slot.copies = std::make_unique<vk::Recorder>(model_.context());
  }
  const vk::Span& span = slot.memory.spans().front();
  auto* base = static_cast<std::byte*>(span.mapped);
  uint64_t offset = 0;
  auto put = [&](const void* data, uint64_t n, const Tensor& dst) {
    std::memcpy(base + offset, data, n);
    if (record) record_copy_into(*slot.copies, span, offset, dst);
    offset += n;
  };
  for (const auto& [tensor, v] : arrays) put(v.data(), v.size() * sizeof(int32_t), *tensor);
  put(values.data(), values.size() * sizeof(float), optimizer_->step_values());
  put(&dropout_seed, sizeof(dropout_seed), model_.dropout_seed());
  if (distributed()) put(&grad_scale, sizeof(grad_scale), acts_.grad_scale);
  slot.step = step;
  slot.targets = targets;
  slot.tokens = tokens;
  prepared_ = index;
}

// The slot's copies and the step are two submissions in a row on one queue. The copies'
// recording ends, and the step's begins, with a full barrier (Recorder), and a pipeline barrier
// recorded outside a render pass has as first synchronization scope "all commands that occur
// earlier in submission order" and as second "all commands that occur later in submission
// order" (Vulkan spec, vkCmdPipelineBarrier), across command buffers and submissions. So the
// step reads the copied inputs without a semaphore, and the host writes to the slot before
// vkQueueSubmit are visible to the copies (the submission's host write domain operation).
// Two recordings rather than the step recorded once per slot: the step's recording and its
// workspace (split-K partial sums) are not duplicated.
void TrainingStep::submit() {
  if (in_flight_ >= 0)
    fail("[train] step {} is still in flight: finish() it before submitting another",
         slots_[in_flight_].step);
  if (prepared_ < 0) fail("[train] no step prepared to submit");
  if (parts_.empty()) {
    record_gradients();
    if (distributed()) {
      record_distributed_update();
    } else {
      record_norm(*parts_.front());
      optimizer_->record_update(*parts_.front(), grad_norm_sq_);
      record_refresh(*parts_.front());
    }
  }
  slots_[prepared_].copies->submit();
  if (distributed()) {
    // As far as the staging ring allows; finish() submits the rest as buffers free up.
    submitted_ = started_ = uploaded_ = 0;
    tickets_.assign(buckets_.size(), 0);
    StepResult unused;
    submit_parts(0, unused);
  } else {
    parts_.front()->submit();
  }
  in_flight_ = prepared_;
  prepared_ = -1;
}

StepResult TrainingStep::finish() {
  if (in_flight_ < 0) fail("[train] no step in flight to finish");
  const InputSlot& slot = slots_[in_flight_];
  in_flight_ = -1;
  auto start = std::chrono::steady_clock::now();
  slot.copies->wait();
  StepResult result;
  if (distributed()) reduce_gradients(result);
  else parts_.front()->wait();
  result.wait_seconds = seconds_since(start);
  result.targets = slot.targets;
  result.tokens = slot.tokens;
  float out[3];  // loss, grad_scale, grad_norm_sq
  std::memcpy(out, results_.spans().front().mapped, sizeof(out));
  result.loss = double(out[0]) * double(out[1] / loss_scale_);
  if (distributed()) result.loss = ranks_->sum(result.loss);
  result.grad_norm = std::sqrt(double(out[2]));
  if (!std::isfinite(result.grad_norm) || !std::isfinite(result.loss))
    fail("[train] step {}: the loss or the gradients are not finite (loss {}, gradient norm {}){}",
         slot.step, result.loss, result.grad_norm,
         model_.setup().dtype == DType::f16 ? "; f16 overflowed, try --dtype bf16" : "");
  return result;
}

}  // namespace vktrain::train
