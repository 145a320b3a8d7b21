#include "train/adamw_8bit_optimizer.hpp"

#include <cmath>
#include <cstring>

#include "base/error.hpp"
#include "ops/adamw_8bit.hpp"
#include "ops/elementwise.hpp"
#include "train/arena_optimizer.hpp"
#include "vk/context.hpp"
#include "vk/recorder.hpp"

namespace vktrain::train {

namespace {

constexpr uint64_t kBlock = ops::kAdamw8bitBlock;
constexpr int64_t kWordsPerRow = model::kArenaRow / 4;                   // codes, 4 a word
constexpr int64_t kBlocksPerRow = model::kArenaRow / int64_t(kBlock);  // absmax, 1 a block

// bitsandbytes' Adam8bit (ops/adamw_8bit.hpp) over the arenas: each moment a code per arena
// element (i32 [rows, 256], 4 codes a word) and an absmax per block (f32 [rows, 4]), the arena
// row being 4 blocks, so a parameter (which starts on a row) never shares a block and a shard
// (whole rows) holds whole blocks. Unlike bitsandbytes, which keeps the state of tensors under
// 4096 values in 32 bits (min_8bit_size), every parameter's state is 8-bit here: the small ones
// (norms, biases, a tiny model's adapter) are a block or a few, each with its own absmax, and
// one layout keeps the update one flat pass and the plan a product of the arena's size.
class Adamw8bit final : public ArenaOptimizer {
 public:
  Adamw8bit(model::Parameters& params, const ops::AdamwOptions& options,
            const Communicator* ranks)
      : ArenaOptimizer(params, options, ranks) {
    vk::Context& ctx = params.context();
    tables_ = make_tensor(ctx, DType::f32, {4, 256}, "AdamW 8-bit maps");
    write_floats(ctx, tables_, ops::adamw_8bit_tables());
    if (shard_.count == 0) return;
    const int64_t rows = int64_t(shard_.count / model::kArenaRow);
    const char* suffix = sharded() ? " (shard)" : "";
    state_.m_codes = make_tensor(ctx, DType::i32, {rows, kWordsPerRow},
                                 std::string("AdamW 8-bit first moment codes") + suffix);
    state_.v_codes = make_tensor(ctx, DType::i32, {rows, kWordsPerRow},
                                 std::string("AdamW 8-bit second moment codes") + suffix);
    state_.m_absmax = make_tensor(ctx, DType::f32, {rows, kBlocksPerRow},
                                  std::string("AdamW 8-bit first moment absmax") + suffix);
    state_.v_absmax = make_tensor(ctx, DType::f32, {rows, kBlocksPerRow},
                                  std::string("AdamW 8-bit second moment absmax") + suffix);
    // Code 0 with absmax 0 is a zero moment (bitsandbytes starts so too).
    vk::Recorder rec(ctx);
    for (Tensor* t : {&state_.m_codes, &state_.v_codes, &state_.m_absmax, &state_.v_absmax})
      ops::fill(rec, *t, 0.0f);
    rec.run();
  }

  OptimizerKind kind() const override { return OptimizerKind::adamw_8bit; }

  void record_shard_update(vk::Recorder& rec, Tensor& master, const Tensor& grads,
                           const Tensor* grad_norm_squared) override {
    ops::adamw_8bit_update(rec, master, state_, grads, tables_, step_values_, grad_norm_squared,
                           groups_, options_);
  }

  // Per moment (exp_avg, exp_avg_sq): its codes of the parameter's shape and one absmax a block.
  std::vector<StateTensor> state_tensors(const model::Parameter& p) const override {
    const int64_t blocks = int64_t((p.spec.elements() + kBlock - 1) / kBlock);
    std::vector<StateTensor> tensors;
    for (const char* moment : {"exp_avg", "exp_avg_sq"}) {
      tensors.push_back({fmt::format("{}_codes.{}", moment, p.spec.name), p.spec.shape, true});
      tensors.push_back({fmt::format("{}_absmax.{}", moment, p.spec.name), {blocks}});
    }
    return tensors;
  }

  std::vector<float> read_state(const model::Parameter& p, size_t which) const override {
    const bool codes = which % 2 == 0;
    const Tensor& t = state_tensor(which);
    vk::Context& ctx = params_.context();
    if (!codes)
      return collect(p, kBlock, state_tensors(p)[which].shape[0], [&](const ArenaRange& part) {
        return read_floats(ctx, shard_rows(t, part, kBlocksPerRow));
      });
    return collect(p, 1, p.spec.elements(), [&](const ArenaRange& part) {
      const std::vector<int32_t> words = read_ints(ctx, shard_rows(t, part, kWordsPerRow));
      std::vector<uint8_t> bytes(words.size() * 4);
      std::memcpy(bytes.data(), words.data(), bytes.size());
      return std::vector<float>(bytes.begin(), bytes.end());
    });
  }

  void write_state(const model::Parameter& p, size_t which,
                   std::span<const float> values) override {
    const StateTensor described = state_tensors(p)[which];
    const bool codes = which % 2 == 0;
    const uint64_t count = codes ? p.spec.elements() : uint64_t(described.shape[0]);
    if (values.size() != count)
      fail("[adamw_8bit] {}: {} values for {} of {}", p.spec.name, values.size(), described.name,
           count);
    for (float x : values)
      if (codes ? !(x >= 0 && x <= 255 && x == std::floor(x)) : !(x >= 0 && std::isfinite(x)))
        fail("[adamw_8bit] {}: {} holds {}, not {}", p.spec.name, described.name, x,
             codes ? "a code 0..255" : "a finite absmax >= 0");
    const ArenaRange part = part_of(p);
    if (part.count == 0) return;
    vk::Context& ctx = params_.context();
    Tensor& t = state_tensor(which);
    if (!codes) {
      Tensor rows = shard_rows(t, part, kBlocksPerRow);
      write_floats(ctx, rows, part_values(p, part, kBlock, values, 0.0f));
      return;
    }
    // The padding after the parameter's last value holds a zero moment: the zero code.
    const float zero = which == 0 ? float(ops::kAdamw8bitZeroCode) : 0.0f;
    const std::vector<float> all = part_values(p, part, 1, values, zero);
    std::vector<uint8_t> bytes(all.begin(), all.end());
    std::vector<int32_t> words(bytes.size() / 4);
    std::memcpy(words.data(), bytes.data(), bytes.size());
    Tensor rows = shard_rows(t, part, kWordsPerRow);
    write_ints(ctx, rows, words);
  }

 private:
  // State tensor `which` of state_tensors' order.
  Tensor& state_tensor(size_t which) {
    Tensor* order[] = {&state_.m_codes, &state_.m_absmax, &state_.v_codes, &state_.v_absmax};
    return *order[which];
  }
  const Tensor& state_tensor(size_t which) const {
    return const_cast<Adamw8bit*>(this)->state_tensor(which);
  }

  Tensor tables_;  // f32 [4, 256]: ops::adamw_8bit_tables
  ops::Adamw8bitState state_;
};

}  // namespace

std::unique_ptr<Optimizer> make_adamw_8bit(model::Parameters& params,
                                           const ops::AdamwOptions& options,
                                           const Communicator* shard_over) {
  return std::make_unique<Adamw8bit>(params, options, shard_over);
}

}  // namespace vktrain::train
