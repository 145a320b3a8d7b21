#include "cli/demo_task.hpp"

#include "base/random.hpp"

namespace vktrain::cli {

std::vector<int32_t> DemoTask::answer(const std::vector<int32_t>& prompt) const {
  std::vector<int32_t> out;
  for (int64_t i = 0; i < kDigits; ++i) {
    int32_t digit = prompt[size_t(2 + i)] - kDigit0;
    out.push_back(kDigit0 + (add_one ? (digit + 1) % 10 : digit));
  }
  out.push_back(kEos);
  return out;
}

std::vector<data::TokenSequence> DemoTask::examples(size_t count, uint64_t seed) const {
  Xoshiro256 rng(seed);
  std::vector<data::TokenSequence> out;
  for (size_t n = 0; n < count; ++n) {
    data::TokenSequence e;
    e.tokens = {kBos, kQuestion};
    for (int64_t i = 0; i < kDigits; ++i) e.tokens.push_back(kDigit0 + int32_t(rng.next() % 10));
    e.tokens.push_back(kAnswer);
    for (int32_t t : answer(e.tokens)) e.tokens.push_back(t);
    e.trained.assign(e.tokens.size(), 0);
    for (size_t i = size_t(kPromptLength); i < e.tokens.size(); ++i) e.trained[i] = 1;
    out.push_back(std::move(e));
  }
  return out;
}

std::string DemoTask::words(const std::vector<int32_t>& ids) {
  static const char* names[] = {"<pad>", "<bos>", "Q:", "A:", "<eos>"};
  std::string out;
  for (int32_t id : ids) {
    if (!out.empty()) out += ' ';
    if (id >= kDigit0 && id < kDigit0 + 10) out += char('0' + id - kDigit0);
    else if (id >= 0 && id < kDigit0) out += names[id];
    else out += "<" + std::to_string(id) + ">";
  }
  return out;
}

}  // namespace vktrain::cli
