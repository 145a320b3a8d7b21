// A chat template from arbitrary bytes, parsed and rendered as the trainer renders one: a short
// conversation with a system prompt, a thinking block and a tool turn, the generation prompt,
// and the assistant spans (which render every prefix of the conversation again). Bad templates
// may only fail with vktrain::Error ("[chat template] fuzz:LINE: ..."); anything else escaping,
// a crash, a hang past the render limits or a sanitizer report is a finding.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "data/chat_template.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<vktrain::data::ChatMessage> messages = {
      {"system", "You are terse."},
      {"user", "What is 2+2?"},
      {"assistant", "<think>\nadd them\n</think>\n\n4"},
      {"tool", "{\"result\": 4}"},
      {"user", "And 3+3? caf\xc3\xa9 \xf0\x9f\x98\x80"},
      {"assistant", "6"},
  };
  try {
    auto chat = vktrain::data::ChatTemplate::from_source(
        std::string_view(reinterpret_cast<const char*>(data), size), "fuzz", "<bos>", "<eos>");
    vktrain::data::ChatOptions options;
    options.add_generation_prompt = true;
    options.enable_thinking = false;
    chat.render(messages, options);
    chat.render_with_spans(messages);
  } catch (const vktrain::Error&) {
  }
  return 0;
}
