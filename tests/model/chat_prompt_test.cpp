// The prompt `vktrain generate --chat` and `vktrain chat` send, with --system and --thinking, on
// Qwen3's real chat template: what transformers' apply_chat_template renders.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/generate.hpp"
#include "data/chat_template.hpp"
#include "support/support.hpp"

using namespace vktrain;
using nlohmann::json;

namespace {

data::ChatTemplate qwen3() {
  return data::ChatTemplate::from_tokenizer_config(std::string(VKTRAIN_TOKENIZERS) +
                                                   "/qwen3/tokenizer_config.json");
}

// A render of tests/fixtures/chat_templates/qwen3.json (made by transformers) by name.
json fixture(const std::string& name) {
  std::ifstream in(std::string(VKTRAIN_FIXTURES) + "/chat_templates/qwen3.json");
  const json renders = json::parse(in);
  for (const auto& render : renders["renders"])
    if (render["name"] == name) return render;
  ADD_FAILURE() << "no render " << name;
  return {};
}

std::vector<data::ChatMessage> messages_of(const json& render) {
  std::vector<data::ChatMessage> messages;
  for (const auto& m : render["messages"]) messages.push_back({m["role"], m["content"]});
  return messages;
}

TEST(ChatPrompt, SystemMessageAndThinkingOffAsTransformersRendersThem) {
  const data::ChatTemplate chat = qwen3();
  // transformers, add_generation_prompt=True and enable_thinking=False: the empty think block.
  const json no_thinking = fixture("no_thinking");
  ASSERT_EQ(no_thinking["options"]["enable_thinking"], false);
  EXPECT_EQ(cli::chat_prompt_text(chat, messages_of(no_thinking), std::nullopt, false),
            no_thinking["rendered"].get<std::string>());
  // transformers, a system message then a user turn, add_generation_prompt=True.
  const json with_system = fixture("generation_prompt");
  std::vector<data::ChatMessage> turns = messages_of(with_system);
  ASSERT_EQ(turns.front().role, "system");
  const std::string system = turns.front().content;
  turns.erase(turns.begin());
  EXPECT_EQ(cli::chat_prompt_text(chat, turns, system, std::nullopt),
            with_system["rendered"].get<std::string>());

  // Both at once; the template writes the system turn first and the think block after the
  // assistant header, nothing else changes.
  EXPECT_EQ(cli::chat_prompt_text(chat, {{"user", "Hi"}}, "You are terse.", false),
            "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\n<think>\n\n</think>\n\n");
  // Thinking on is the template's default: no block, as without the flag.
  EXPECT_EQ(cli::chat_prompt_text(chat, {{"user", "Hi"}}, "You are terse.", true),
            "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\n");
  // A later turn of `vktrain chat`: earlier answers stay plain, the block is only in the header.
  EXPECT_EQ(cli::chat_prompt_text(chat, {{"user", "Hi"}, {"assistant", "Hello."}, {"user", "Bye"}},
                                  std::nullopt, false),
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n"
            "<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
}

TEST(ChatPrompt, ThinkingIsOnOrOff) {
  EXPECT_EQ(cli::parse_thinking("on", "chat"), true);
  EXPECT_EQ(cli::parse_thinking("off", "chat"), false);
  EXPECT_EQ(cli::parse_thinking(std::nullopt, "chat"), std::nullopt);
  EXPECT_EQ(test::error_message([] { cli::parse_thinking("false", "chat"); }),
            "[chat] --thinking 'false' is not on or off");
}

}  // namespace
