#pragma once
// The demo's synthetic instruction task, with its own small word-level vocabulary (no download):
//   <bos> Q: 3 1 4 1 A: 4 2 5 2 <eos>
// The base model is pre-trained to copy the digits after "A:"; the LoRA fine-tune teaches it to
// add one to each (mod 10), which the copier never does. Only the answer and <eos> are trained.
#include <cstdint>
#include <string>
#include <vector>

#include "data/batches.hpp"

namespace vktrain::cli {

struct DemoTask {
  static constexpr int32_t kPad = 0, kBos = 1, kQuestion = 2, kAnswer = 3, kEos = 4, kDigit0 = 5;
  static constexpr int64_t kVocab = 16, kDigits = 4;
  static constexpr int64_t kPromptLength = kDigits + 3;               // <bos> Q: d d d d A:
  static constexpr int64_t kLength = kPromptLength + kDigits + 1;     // + answer + <eos>

  bool add_one = false;  // false: copy (pre-training); true: add one (the fine-tune)

  std::vector<data::TokenSequence> examples(size_t count, uint64_t seed) const;
  std::vector<int32_t> answer(const std::vector<int32_t>& prompt) const;
  static std::string words(const std::vector<int32_t>& ids);
};

}  // namespace vktrain::cli
