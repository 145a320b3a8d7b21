// vktrain generate / chat. A generation prefills the whole prompt (for chat: the conversation
// so far, rendered anew each turn) into a fresh KV cache sized prompt + --max-tokens, then
// samples token by token (model/generation.hpp, model/sampling.hpp). Text is streamed as it
// decodes, holding back bytes that could still become a stop string or an unfinished UTF-8
// character.
#include "cli/generate.hpp"

#include <chrono>
#include <iostream>
#include <memory>
#include <set>

#include <fmt/format.h>

#include "base/error.hpp"
#include "cli/run_setup.hpp"
#include "data/model_text.hpp"
#include "model/generation.hpp"
#include "model/pretrained.hpp"
#include "vk/context.hpp"

namespace vktrain::cli {
namespace {

struct Session {
  std::unique_ptr<vk::Context> context;
  std::unique_ptr<model::Transformer> model;
  data::ModelText text;
  std::set<int32_t> eos;  // the config's eos_token_id(s) and the tokenizer's eos token
  std::optional<bool> thinking;
};

Session open_session(const GenerateOptions& o, const char* command) {
  if (o.max_tokens < 1) fail("[{}] --max-tokens {} must be at least 1", command, o.max_tokens);
  std::optional<bool> thinking = parse_thinking(o.thinking, command);
  model::check_sampling_options(o.sampling);
  const io::ModelSource source(o.model);
  Session s{nullptr, nullptr, data::load_model_text(source, o.chat_template), {}, thinking};
  s.context = std::make_unique<vk::Context>(context_options(o.device));
  const io::ModelConfig config = source.config();
  const DType dtype = run_dtype(*s.context, o.dtype);
  s.model = model::load_pretrained(*s.context, config, source, o.adapter, dtype,
                                   quantized_base(config, &source, o.quantize, dtype).types);
  s.eos.insert(config.eos_token_ids.begin(), config.eos_token_ids.end());
  if (auto id = s.text.tokenizer.eos_id()) s.eos.insert(*id);
  return s;
}

bool ends_incomplete(const std::string& text) {
  return text.size() >= 3 && text.compare(text.size() - 3, 3, "\xEF\xBF\xBD") == 0;
}

// Generates after `prompt`, streaming the text to stdout; returns it.
std::string complete(Session& s, const std::vector<int32_t>& prompt, const GenerateOptions& o,
                     model::Sampler& sampler) {
  const auto start = std::chrono::steady_clock::now();
  model::Generator generator(*s.model, int64_t(prompt.size()) + o.max_tokens);
  std::vector<float> logits = generator.prefill(prompt);
  std::vector<int32_t> ids;
  std::string text, reason = "--max-tokens";
  size_t shown = 0;
  while (true) {
    int32_t token = sampler.next(logits);
    if (s.eos.count(token)) {
      reason = "end of sequence";
      break;
    }
    ids.push_back(token);
    text = s.text.tokenizer.decode(ids, true);
    if (size_t at = model::find_stop(text, o.stop); at != std::string::npos) {
      text.resize(at);
      reason = "stop string";
      break;
    }
    size_t hold = std::max<size_t>(model::pending_stop_prefix(text, o.stop),
                                   ends_incomplete(text) ? 3 : 0);
    if (text.size() - hold > shown) {
      fmt::print("{}", text.substr(shown, text.size() - hold - shown));
      std::fflush(stdout);
      shown = text.size() - hold;
    }
    if (int64_t(ids.size()) == o.max_tokens) break;
    logits = generator.step(token);
  }
  if (text.size() > shown) fmt::print("{}", text.substr(shown));
  fmt::print("\n");
  std::fflush(stdout);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print(stderr, "[{} prompt tokens, {} generated in {:.2f} s ({:.1f} tokens/s); stopped by {}]\n",
             prompt.size(), ids.size(), seconds, double(ids.size()) / seconds, reason);
  return text;
}

std::vector<int32_t> chat_prompt(const Session& s, const std::vector<data::ChatMessage>& turns,
                                 const GenerateOptions& o) {
  // The template writes any BOS itself.
  return s.text.tokenizer.encode(
      chat_prompt_text(s.text.chat_template, turns, o.system, s.thinking), false);
}

}  // namespace

std::optional<bool> parse_thinking(const std::optional<std::string>& value, const char* command) {
  if (!value) return std::nullopt;
  if (*value == "on") return true;
  if (*value == "off") return false;
  fail("[{}] --thinking '{}' is not on or off", command, *value);
}

std::string chat_prompt_text(const data::ChatTemplate& chat_template,
                             const std::vector<data::ChatMessage>& turns,
                             const std::optional<std::string>& system,
                             std::optional<bool> thinking) {
  std::vector<data::ChatMessage> messages;
  if (system) messages.push_back({"system", *system});
  messages.insert(messages.end(), turns.begin(), turns.end());
  data::ChatOptions options;
  options.add_generation_prompt = true;
  options.enable_thinking = thinking;
  return chat_template.render(messages, options);
}

int run_generate(const GenerateOptions& o) {
  if (!o.chat && (o.system || o.thinking))
    fail("[generate] --{} goes through the chat template: add --chat",
         o.system ? "system" : "thinking");
  Session s = open_session(o, "generate");
  std::vector<int32_t> prompt = o.chat ? chat_prompt(s, {{"user", o.prompt}}, o)
                                       : s.text.tokenizer.encode(o.prompt, true);
  if (prompt.empty()) fail("[generate] --prompt is empty; give some text to continue");
  model::Sampler sampler(o.sampling);
  complete(s, prompt, o, sampler);
  return 0;
}

int run_chat(const GenerateOptions& o) {
  Session s = open_session(o, "chat");
  model::Sampler sampler(o.sampling);
  std::vector<data::ChatMessage> messages;
  std::string line;
  fmt::print(stderr, "[chat: one message a line; end with Ctrl-D]\n");
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    messages.push_back({"user", line});
    std::string answer = complete(s, chat_prompt(s, messages, o), o, sampler);
    messages.push_back({"assistant", answer});
  }
  return 0;
}

}  // namespace vktrain::cli
