#pragma once
// Choosing the next token from logits [V] on the host, and stopping. The filters are applied in
// transformers' order (generate()'s logits warpers): temperature, then top-k, top-p and min-p,
// each on what the previous one left; the token is then drawn from the softmax of the
// survivors with a seeded xoshiro256** (base/random.hpp), so a seed repeats a generation.
//   temperature  0: greedy (the first largest logit, as argmax); else logits / temperature
//   top_k        keep the k largest logits and any tied with the k-th (0: off)
//   top_p        keep the most likely tokens whose probabilities sum to at least top_p, the one
//                that crosses it included (1: off)
//   min_p        drop tokens less likely than min_p times the most likely one (0: off)
// llama.cpp's default chain filters before it divides by the temperature; with temperature 1 the
// two agree.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/random.hpp"

namespace vktrain::model {

struct SamplingOptions {
  double temperature = 1.0;
  int64_t top_k = 0;
  double top_p = 1.0;
  double min_p = 0.0;
  uint64_t seed = 0;
};

// Fails with one line naming the option when a value is out of range.
void check_sampling_options(const SamplingOptions& options);

struct Candidate {
  int32_t token;
  double probability;  // after the filters, renormalised
};
// The tokens the filters leave, most likely first (ties: lower id first). Greedy: one.
std::vector<Candidate> candidates(std::span<const float> logits, const SamplingOptions& options);

class Sampler {
 public:
  explicit Sampler(const SamplingOptions& options);
  int32_t next(std::span<const float> logits);

 private:
  SamplingOptions options_;
  Xoshiro256 random_;
};

// Where the first of `stops` begins in `text`, or npos. Generation ends there and the stop
// string is not shown.
size_t find_stop(std::string_view text, const std::vector<std::string>& stops);
// How many bytes at the end of `text` might still grow into a stop string (the longest suffix
// that is a proper prefix of one): streamed output holds them back until it knows.
size_t pending_stop_prefix(std::string_view text, const std::vector<std::string>& stops);

}  // namespace vktrain::model
