#include "model/parameters.hpp"

#include <algorithm>

#include "base/error.hpp"
#include "io/ggml_dtype.hpp"
#include "ops/elementwise.hpp"
#include "vk/context.hpp"
#include "vk/recorder.hpp"

namespace vktrain::model {

namespace {

uint64_t arena_rows(uint64_t elements) { return (elements + kArenaRow - 1) / kArenaRow; }

}  // namespace

ArenaRange arena_overlap(const ArenaRange& a, const ArenaRange& b) {
  const uint64_t first = std::max(a.first, b.first);
  const uint64_t end = std::min(a.first + a.count, b.first + b.count);
  return first < end ? ArenaRange{first, end - first} : ArenaRange{first, 0};
}

ArenaRange arena_shard(uint64_t elements, int64_t rank, int64_t ranks) {
  const uint64_t rows = elements / kArenaRow;
  const uint64_t per_rank = (rows + uint64_t(ranks) - 1) / uint64_t(ranks);
  const uint64_t first = std::min(rows, uint64_t(rank) * per_rank);
  const uint64_t end = std::min(rows, first + per_rank);
  return {first * kArenaRow, (end - first) * kArenaRow};
}

Tensor zeroed_rows(vk::Context& context, uint64_t rows, const std::string& what) {
  Tensor t = make_tensor(context, DType::f32, {int64_t(rows), kArenaRow}, what);
  vk::Recorder rec(context);
  ops::fill(rec, t, 0.0f);
  rec.run();
  return t;
}

Parameters::Parameters(vk::Context& context, const std::vector<ParameterSpec>& specs, DType dtype,
                       const TrainablePredicate& trainable,
                       const std::map<std::string, DType>& block_types, int64_t shard,
                       int64_t shards)
    : context_(context), dtype_(dtype) {
  // The arena layout first: trainable parameters in the given order, each on a fresh row, with
  // chunks cut at parameter boundaries so that no chunk exceeds one allocation.
  const uint64_t max_chunk_rows =
      std::max<uint64_t>(1, std::min<uint64_t>(context.caps().max_allocation, 1ull << 30) /
                                (kArenaRow * 4));
  uint64_t chunk = 0;
  for (const auto& spec : specs) {
    Parameter p;
    p.spec = spec;
    p.trainable = trainable(spec);
    if (p.trainable) {
      uint64_t rows = arena_rows(spec.elements());
      if (chunk != 0 && chunk + rows > max_chunk_rows) {
        chunk_rows_.push_back(chunk);
        chunk = 0;
      }
      p.offset = trainable_elements_;
      trainable_elements_ += rows * kArenaRow;
      chunk += rows;
    }
    params_.push_back(std::move(p));
  }
  if (chunk) chunk_rows_.push_back(chunk);
  // An f32 run's weights are its masters: nothing to shard.
  masters_sharded_ = any_trainable() && shards > 1 && dtype != DType::f32;
  master_shard_ = masters_sharded_ ? arena_shard(trainable_elements_, shard, shards)
                                   : ArenaRange{0, trainable_elements_};
  if (masters_sharded_ && master_shard_.count > 0)
    master_ = zeroed_rows(context, master_shard_.count / kArenaRow, "master weights (shard)");
  else if (any_trainable() && !masters_sharded_)
    master_ = make_arena("master weights", chunks_);
  if (any_trainable()) grads_ = make_arena("gradients", chunks_);
  for (auto& p : params_) {
    DType type = p.spec.matrix() ? dtype : DType::f32;
    if (auto block = block_types.find(p.spec.name); block != block_types.end()) {
      if (p.trainable)
        fail("[model] {} is stored as {} (a quantized base) and cannot train: train a LoRA "
             "adapter on it, or load a 16-bit base for full fine-tuning",
             p.spec.name, dtype_name(block->second));
      type = block->second;
    }
    if (p.trainable && type == DType::f32 && !masters_sharded_) {
      p.weight = arena_view(master_, p.spec.name);
    } else {
      p.copy = p.trainable;
      p.weight = make_tensor(context, type, p.spec.shape, p.spec.name);
    }
  }
}

Tensor Parameters::make_arena(const char* what, std::vector<Tensor>& owners) const {
  std::vector<vk::Span> spans;
  for (uint64_t rows : chunk_rows_) {
    owners.push_back(make_tensor(context_, DType::f32, {int64_t(rows), kArenaRow}, what));
    for (const auto& span : owners.back().memory.spans()) spans.push_back(span);
  }
  Tensor arena;
  arena.dtype = DType::f32;
  arena.shape = {int64_t(trainable_elements_ / kArenaRow), kArenaRow};
  arena.name = what;
  arena.memory = vk::Allocation(nullptr, std::move(spans), arena.bytes());
  // Zero everywhere: the padding between parameters must stay zero under every update.
  vk::Recorder rec(context_);
  ops::fill(rec, arena, 0.0f);
  rec.run();
  return arena;
}

const Parameter* Parameters::find(const std::string& name) const {
  for (const auto& p : params_)
    if (p.spec.name == name) return &p;
  return nullptr;
}

const Parameter& Parameters::at(const std::string& name) const {
  const Parameter* p = find(name);
  if (!p) fail("[model] the model has no parameter '{}'", name);
  return *p;
}

Parameter& Parameters::mutable_at(const std::string& name) {
  return params_[size_t(&at(name) - params_.data())];
}

Tensor Parameters::arena_view(const Tensor& arena, const std::string& name) const {
  const Parameter& p = at(name);
  if (!p.trainable) fail("[model] parameter '{}' does not train", name);
  return view(arena, p.offset, p.spec.shape, name + " (" + arena.name + ")");
}

void Parameters::write(const std::string& name, std::span<const float> values) {
  Parameter& p = mutable_at(name);
  if (values.size() != p.spec.elements())
    fail("[model] parameter '{}' has {} elements, got {} values", name,
         p.spec.elements(), values.size());
  if (p.trainable && masters_sharded_) {
    // The shard's rows of the parameter, its padding after the last value zero.
    const ArenaRange whole{p.offset, arena_rows(p.spec.elements()) * kArenaRow};
    const ArenaRange part = arena_overlap(whole, master_shard_);
    if (part.count > 0) {
      std::vector<float> rows(part.count, 0.0f);
      const uint64_t from = part.first - whole.first;
      std::copy_n(values.begin() + int64_t(from),
                  std::min<uint64_t>(part.count, values.size() - from), rows.begin());
      Tensor m = master_rows(part);
      write_floats(context_, m, rows);
    }
  } else if (p.trainable) {
    Tensor m = master(name);
    write_floats(context_, m, values);
  }
  if (p.trainable && !p.copy) return;
  if (dtype_is_block(p.weight.dtype))
    write_bytes(context_, p.weight, io::quantize(values, io::ggml_type_of(p.weight.dtype)));
  else
    write_floats(context_, p.weight, values);
}

void Parameters::write_encoded(const std::string& name, std::span<const std::byte> bytes,
                               io::GgmlType type) {
  Parameter& p = mutable_at(name);
  if (p.trainable || io::ggml_type_of(p.weight.dtype) != type) {
    write(name, io::dequantize(bytes, type, p.spec.elements()));
    return;
  }
  if (bytes.size() != p.weight.bytes())
    fail("[model] parameter '{}' holds {} bytes of {}, got {}", name, p.weight.bytes(),
         dtype_name(p.weight.dtype), bytes.size());
  write_bytes(context_, p.weight, bytes);
}

Tensor Parameters::master(const std::string& name) const {
  if (masters_sharded_)
    fail("[model] the master of '{}' is sharded over the ranks: read it through the optimizer",
         name);
  return arena_view(master_, name);
}

Tensor Parameters::master_rows(const ArenaRange& range) const {
  if (range.first < master_shard_.first ||
      range.first + range.count > master_shard_.first + master_shard_.count ||
      range.count % kArenaRow != 0)
    fail("[model] master rows at {} (+{}) are outside this rank's {} (+{})", range.first,
         range.count, master_shard_.first, master_shard_.count);
  return view(master_, range.first - master_shard_.first,
              {int64_t(range.count / kArenaRow), kArenaRow}, master_.name + " (rows)");
}

std::vector<float> Parameters::read(const std::string& name) const {
  const Parameter& p = at(name);
  if (p.trainable) return read_floats(context_, master(name));
  if (dtype_is_block(p.weight.dtype))
    return io::dequantize(read_bytes(context_, p.weight), io::ggml_type_of(p.weight.dtype),
                          p.spec.elements());
  return read_floats(context_, p.weight);
}

uint64_t Parameters::trainable_count() const {
  uint64_t n = 0;
  for (const auto& p : params_)
    if (p.trainable) n += p.spec.elements();
  return n;
}

uint64_t Parameters::total_count() const {
  uint64_t n = 0;
  for (const auto& p : params_) n += p.spec.elements();
  return n;
}

void Parameters::record_refresh(vk::Recorder& rec) {
  for (auto& p : params_)
    if (p.copy) ops::convert(rec, p.weight, master(p.spec.name));
}

void Parameters::record_refresh_from(vk::Recorder& rec, const Tensor& values,
                                     const ArenaRange& range) {
  for (auto& p : params_) {
    if (!p.copy) continue;
    const ArenaRange part = arena_overlap({p.offset, p.spec.elements()}, range);
    if (part.count == 0) continue;
    const int64_t n = int64_t(part.count);
    Tensor out = view(p.weight, part.first - p.offset, {n}, p.spec.name + " (part)");
    ops::convert(rec, out, view(values, part.first - range.first, {n}, values.name));
  }
}

}  // namespace vktrain::model
