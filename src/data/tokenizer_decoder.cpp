#include "data/tokenizer_decoder.hpp"

#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "data/tokenizer_json.hpp"
#include "io/json_file.hpp"
#include "data/unicode.hpp"

namespace vktrain::data {
namespace {

// The byte a "<0xXX>" token stands for, or -1.
int byte_token_value(const std::string& token) {
  if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>') return -1;
  int value = 0;
  for (int i = 3; i < 5; ++i) {
    char c = token[i];
    int digit = c >= '0' && c <= '9' ? c - '0'
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                       : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

std::string replace_all(const std::string& text, const Pattern& pattern, const std::string& to) {
  std::string out;
  size_t copied = 0;
  pattern.find_all(text, [&](size_t start, size_t end) {
    out.append(text, copied, start - copied);
    out += to;
    copied = end;
  });
  out.append(text, copied, std::string::npos);
  return out;
}

}  // namespace

Decoder Decoder::from_json(const nlohmann::json& json, const std::string& file) {
  Decoder d;
  if (!json.is_null()) {
    d.add_json(json, file);
    d.configured_ = true;
  }
  return d;
}

void Decoder::add_json(const nlohmann::json& json, const std::string& file) {
  auto type = stage_type(json, "decoder", file);
  const io::JsonFields in(json, file + " decoder", "tokenizer");
  if (type == "Sequence") {
    for (const auto& step : json.value("decoders", nlohmann::json::array())) add_json(step, file);
  } else if (type == "ByteLevel") {
    add_byte_level();
  } else if (type == "Replace") {
    add({Kind::replace, Pattern::from_json(member(json, "pattern"), file + " decoder"),
         in.get<std::string>("content", "")});
  } else if (type == "ByteFallback") {
    add_byte_fallback();
  } else if (type == "Fuse") {
    add_fuse();
  } else if (type == "Strip") {
    add_strip(in.get<std::string>("content", " "), in.get("start", size_t(0)),
              in.get("stop", size_t(0)));
  } else if (type == "Metaspace") {
    std::string scheme = in.get<std::string>("prepend_scheme", "");
    bool drop_first = scheme.empty() ? in.get("add_prefix_space", true) : scheme != "never";
    add({Kind::metaspace, Pattern(), in.get<std::string>("replacement", "\u2581"), 0, 0,
         drop_first});
  } else {
    fail("[tokenizer] {}: unsupported decoder type '{}' (supported: ByteLevel, Replace, "
         "ByteFallback, Fuse, Strip, Metaspace, Sequence)",
         file, type);
  }
}

Decoder& Decoder::add(Step step) {
  steps_.push_back(std::move(step));
  configured_ = true;
  return *this;
}

Decoder& Decoder::add_byte_level() { return add({Kind::byte_level}); }
Decoder& Decoder::add_byte_fallback() { return add({Kind::byte_fallback}); }
Decoder& Decoder::add_fuse() { return add({Kind::fuse}); }

Decoder& Decoder::add_replace(std::string from, std::string to) {
  return add({Kind::replace, Pattern::literal(std::move(from)), std::move(to)});
}

Decoder& Decoder::add_strip(std::string content, size_t start, size_t stop) {
  return add({Kind::strip, Pattern(), std::move(content), start, stop});
}

std::string Decoder::decode(std::vector<std::string> tokens) const {
  std::string out;
  if (!configured_) {
    for (size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
    return out;
  }
  for (const auto& step : steps_) run(step, tokens);
  for (const auto& t : tokens) out += t;
  return out;
}

void Decoder::run(const Step& step, std::vector<std::string>& tokens) const {
  switch (step.kind) {
    case Kind::byte_level: {
      // Each token's stand-ins become bytes (a token with other code points, such as an added
      // token, keeps its own bytes); the whole is then read as UTF-8, lossily.
      const auto& alphabet = byte_level_alphabet();
      std::string bytes;
      for (const auto& t : tokens) {
        std::string mapped;
        bool all = true;
        for (size_t pos = 0; pos < t.size() && all;) {
          char32_t c = next_code_point(t, pos);
          int b = c < alphabet.decode.size() ? alphabet.decode[c] : -1;
          if (b < 0) all = false;
          else mapped += char(b);
        }
        bytes += all ? mapped : t;
      }
      tokens = {utf8_lossy(bytes)};
      break;
    }
    case Kind::replace:
      for (auto& t : tokens) t = replace_all(t, step.pattern, step.content);
      break;
    case Kind::byte_fallback: {
      std::vector<std::string> out;
      std::string pending;
      auto flush = [&] {
        if (pending.empty()) return;
        if (is_valid_utf8(pending))
          out.push_back(pending);
        else
          for (size_t i = 0; i < pending.size(); ++i) out.push_back("\xEF\xBF\xBD");
        pending.clear();
      };
      for (auto& t : tokens) {
        int b = byte_token_value(t);
        if (b >= 0) {
          pending += char(b);
        } else {
          flush();
          out.push_back(std::move(t));
        }
      }
      flush();
      tokens = std::move(out);
      break;
    }
    case Kind::fuse: {
      std::string all;
      for (const auto& t : tokens) all += t;
      tokens = {all};
      break;
    }
    case Kind::strip:
      for (auto& t : tokens) {
        size_t begin = 0, end = t.size();
        const auto& c = step.content;
        for (size_t i = 0; i < step.start && t.compare(begin, c.size(), c) == 0 && begin < end; ++i)
          begin += c.size();
        for (size_t i = 0; i < step.stop && end >= begin + c.size() &&
                           t.compare(end - c.size(), c.size(), c) == 0;
             ++i)
          end -= c.size();
        t = t.substr(begin, end - begin);
      }
      break;
    case Kind::metaspace:
      for (size_t i = 0; i < tokens.size(); ++i)
        tokens[i] = replace_all(tokens[i], Pattern::literal(step.content),
                                i == 0 && step.drop_first ? "" : " ");
      break;
  }
}

}  // namespace vktrain::data
