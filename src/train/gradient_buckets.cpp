#include "train/gradient_buckets.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "arch/tensor_names.hpp"

namespace vktrain::train {

namespace {

// When a parameter's gradient is final, as a layer index of the backward: L for the head (final
// norm, untied lm_head: their gradients come first), l for model.layers.l.*, -1 for the rest
// (the embedding, and anything else, which is safe at the end).
int64_t final_after(const std::string& name, const io::ModelConfig& config) {
  const std::string prefix = "model.layers.";
  if (name.rfind(prefix, 0) == 0) return std::strtoll(name.c_str() + prefix.size(), nullptr, 10);
  if (name == arch::hf::kFinalNorm || (name == arch::hf::kLmHead && !config.tie_word_embeddings))
    return config.num_layers;
  return -1;
}

}  // namespace

std::vector<GradientBucket> gradient_buckets(const model::Parameters& params,
                                             const io::ModelConfig& config, uint64_t bucket_bytes,
                                             uint64_t max_bytes) {
  const int64_t L = config.num_layers;
  // end_before[s + 1]: the arena's end of the parameters final only after stage s (-1 .. L),
  // so that after layer l every element from max(end_before[0 .. l]) on is final.
  std::vector<uint64_t> end_before(size_t(L + 2), 0);
  for (const auto& p : params.all()) {
    if (!p.trainable) continue;
    const int64_t stage = std::clamp<int64_t>(final_after(p.spec.name, config), -1, L);
    const uint64_t end = p.offset + p.spec.elements();
    end_before[size_t(stage + 1)] = std::max(end_before[size_t(stage + 1)], end);
  }
  std::vector<GradientBucket> buckets;
  const uint64_t max_count =
      std::max<uint64_t>(model::kArenaRow, max_bytes / 4 / model::kArenaRow * model::kArenaRow);
  // [first, end) final after `layer`, cut into buckets of at most max_count, from the top.
  auto add = [&](uint64_t first, uint64_t end, int64_t layer) {
    while (end > first) {
      const uint64_t count = std::min(end - first, max_count);
      buckets.push_back({end - count, count, layer});
      end -= count;
    }
  };
  uint64_t end = params.trainable_elements();
  uint64_t final_from = 0;  // max(end_before[0 .. l])
  std::vector<uint64_t> from(size_t(L), 0);
  for (int64_t l = 0; l < L; ++l)
    from[size_t(l)] = final_from = std::max(final_from, end_before[size_t(l)]);
  for (int64_t l = L - 1; l >= 0; --l) {
    // Padding: a bucket starts on an arena row, as every parameter does.
    const uint64_t first = (from[size_t(l)] + model::kArenaRow - 1) / model::kArenaRow *
                           model::kArenaRow;
    if (first < end && (end - first) * 4 >= bucket_bytes) {
      add(first, end, l);
      end = first;
    }
  }
  add(0, end, -1);
  return buckets;
}

StagingRing staging_ring(uint64_t arena_elements, uint64_t bucket_bytes, uint64_t max_allocation) {
  const uint64_t cap =
      std::min({max_allocation, uint64_t(1) << 30, bucket_bytes ? bucket_bytes : uint64_t(1) << 20});
  const uint64_t rows = std::max<uint64_t>(1, cap / 4 / model::kArenaRow);
  const uint64_t slot = std::min(rows * model::kArenaRow, arena_elements);
  if (slot == 0) return {};
  return {std::min(kStagingSlots, (arena_elements + slot - 1) / slot), slot};
}

}  // namespace vktrain::train
