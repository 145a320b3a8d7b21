// data::load_or_tokenize: tokenized data kept next to the run, so a resumed or repeated run does
// not tokenize again. One file per (data, tokenizer, options), named by their FNV-1a hash:
//   Header (magic, version, key, the counts, the number of sequences S, payload checksum)
//   u64 length[S], i32 tokens[sum], u8 trained[sum]
// in the host's byte order (the cache never leaves the machine). Nothing in it is trusted
// blindly: a file whose magic, version, key, sizes or checksum disagree is rebuilt.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string_view>

#include "base/error.hpp"
#include "data/dataset.hpp"
#include "io/file.hpp"

namespace vktrain::data {
namespace {

constexpr char kMagic[8] = {'V', 'K', 'T', 'D', 'A', 'T', 'A', '\n'};
// 2: chat messages carry their other keys (tool calls, names) and the line's tools into the
// template, so the same line may render differently than under version 1.
constexpr uint32_t kVersion = 2;

struct Fnv1a {
  uint64_t hash = 0xcbf29ce484222325ull;
  void bytes(const void* data, size_t n) {
    for (size_t i = 0; i < n; ++i) hash = (hash ^ static_cast<const unsigned char*>(data)[i]) * 0x100000001b3ull;
  }
  template <typename T>
  void value(const T& v) {
    bytes(&v, sizeof v);
  }
  void text(std::string_view s) {
    value(uint64_t(s.size()));
    bytes(s.data(), s.size());
  }
};

struct Header {
  char magic[8];
  uint32_t version, reserved;
  uint64_t key;
  int64_t examples, text, prompt_completion, chat, tokens, trained_tokens, truncated;
  uint64_t sequences, checksum;
};
static_assert(sizeof(Header) == 96);

// What the tokenizer and template do, rather than where they came from (a directory or a GGUF
// file): every vocabulary entry, the special ids, and a probe text and conversation.
void hash_model_text(Fnv1a& h, const ModelText& text) {
  const Tokenizer& t = text.tokenizer;
  h.value(uint64_t(t.vocab_size()));
  for (size_t id = 0; id < t.vocab_size(); ++id) {
    try {
      h.text(t.piece(int32_t(id)));
    } catch (const Error&) {
      h.text("\x01no token");  // a hole in the ids
    }
    h.value(t.is_special(int32_t(id)));
  }
  for (auto id : {t.bos_id(), t.eos_id(), t.pad_id()}) h.value(int64_t(id.value_or(-1)));
  auto probe = t.encode("Probe: Grüße, 你好!\n\t  12345 <think>x</think> don't", true);
  h.bytes(probe.data(), probe.size() * sizeof(int32_t));
  try {
    auto chat = text.chat_template.render_with_spans(
        {{"system", "S"}, {"user", "U1"}, {"assistant", "A1"}, {"user", "U2"}, {"assistant", "A2"}});
    h.text(chat.text);
    for (auto [begin, end] : chat.assistant_spans) h.value(uint64_t(begin)), h.value(uint64_t(end));
  } catch (const std::exception& e) {
    h.text(e.what());  // a template that refuses system turns still has an identity
  }
}

uint64_t cache_key(const std::string& path, const ModelText& text, const DatasetOptions& o) {
  Fnv1a h;
  h.value(kVersion);
  h.text(std::filesystem::path(path).extension().string());  // .txt is read differently
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("[data] cannot open {}", path);
  std::vector<char> chunk(1 << 20);
  while (in.read(chunk.data(), std::streamsize(chunk.size())) || in.gcount() > 0)
    h.bytes(chunk.data(), size_t(in.gcount()));
  hash_model_text(h, text);
  for (int64_t v : {o.seq_len, o.stride, int64_t(o.train_on_inputs), int64_t(o.truncate)}) h.value(v);
  return h.hash;
}

// The payload in file order, as byte ranges: what is written and what the checksum covers.
void for_each_payload_range(const TokenizedDataset& d,
                            const std::function<void(const void*, size_t)>& emit) {
  for (const auto& s : d.sequences) {
    uint64_t n = s.tokens.size();
    emit(&n, sizeof n);
  }
  for (const auto& s : d.sequences) emit(s.tokens.data(), s.tokens.size() * sizeof(int32_t));
  for (const auto& s : d.sequences) emit(s.trained.data(), s.trained.size());
}

void write_cache(const std::string& file, uint64_t key, const TokenizedDataset& d) {
  Header header{};
  std::memcpy(header.magic, kMagic, sizeof kMagic);
  header.version = kVersion;
  header.key = key;
  header.examples = d.examples, header.text = d.text, header.prompt_completion = d.prompt_completion;
  header.chat = d.chat, header.tokens = d.tokens, header.trained_tokens = d.trained_tokens;
  header.truncated = d.truncated;
  header.sequences = d.sequences.size();
  Fnv1a checksum;
  for_each_payload_range(d, [&](const void* p, size_t n) { checksum.bytes(p, n); });
  header.checksum = checksum.hash;
  io::write_file_atomically(file, "data", [&](std::ofstream& out) {
    out.write(reinterpret_cast<const char*>(&header), sizeof header);
    for_each_payload_range(d, [&](const void* p, size_t n) {
      out.write(static_cast<const char*>(p), std::streamsize(n));
    });
  });
}

// The cached dataset, or nothing when the file is missing or fails any check.
std::optional<TokenizedDataset> read_cache(const std::string& file, uint64_t key) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream contents;
  contents << in.rdbuf();
  const std::string bytes = contents.str();
  Header h;
  if (bytes.size() < sizeof h) return std::nullopt;
  std::memcpy(&h, bytes.data(), sizeof h);
  if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0 || h.version != kVersion || h.key != key)
    return std::nullopt;
  size_t payload = bytes.size() - sizeof h;
  if (h.sequences > payload / sizeof(uint64_t) || h.tokens < 0 ||
      payload != h.sequences * sizeof(uint64_t) + uint64_t(h.tokens) * (sizeof(int32_t) + 1))
    return std::nullopt;
  const char* at = bytes.data() + sizeof h;
  Fnv1a checksum;
  checksum.bytes(at, payload);
  if (checksum.hash != h.checksum) return std::nullopt;
  TokenizedDataset d;
  d.examples = h.examples, d.text = h.text, d.prompt_completion = h.prompt_completion;
  d.chat = h.chat, d.tokens = h.tokens, d.trained_tokens = h.trained_tokens;
  d.truncated = h.truncated;
  std::vector<uint64_t> lengths(h.sequences);
  std::memcpy(lengths.data(), at, lengths.size() * sizeof(uint64_t));
  uint64_t total = 0;
  for (uint64_t n : lengths) total += n;
  if (total != uint64_t(h.tokens) || int64_t(h.sequences) != h.examples) return std::nullopt;
  const char* tokens = at + lengths.size() * sizeof(uint64_t);
  const char* trained = tokens + total * sizeof(int32_t);
  d.sequences.resize(lengths.size());
  for (size_t i = 0; i < lengths.size(); ++i) {
    auto& s = d.sequences[i];
    s.tokens.resize(lengths[i]);
    std::memcpy(s.tokens.data(), tokens, lengths[i] * sizeof(int32_t));
    s.trained.assign(trained, trained + lengths[i]);
    tokens += lengths[i] * sizeof(int32_t);
    trained += lengths[i];
  }
  d.from_cache = true;
  return d;
}

}  // namespace

TokenizedDataset load_or_tokenize(const std::string& path, const ModelText& text,
                                  const DatasetOptions& options, const std::string& cache_dir) {
  uint64_t key = cache_key(path, text, options);
  std::string file = (std::filesystem::path(cache_dir) / fmt::format("dataset-{:016x}.bin", key)).string();
  if (auto cached = read_cache(file, key)) return std::move(*cached);
  auto d = tokenize_dataset(path, text, options);
  std::error_code error;
  std::filesystem::create_directories(cache_dir, error);
  if (error) fail("[data] cannot create the cache folder {}: {}", cache_dir, error.message());
  write_cache(file, key, d);
  return d;
}

}  // namespace vktrain::data
