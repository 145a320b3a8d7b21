#pragma once
// A training data file as token sequences ready for data::Batcher (DESIGN.md "Data"):
//  - JSONL, one format per file (text, prompt/completion or chat; a file mixing them is an
//    error naming the line where the format changes), each line one example whose tokens are
//    marked trained or not by data::segments_of;
//  - .txt for pre-training: the whole file as one token stream (BOS and EOS as for a text
//    example) cut into windows of seq_len tokens that start every `stride` tokens. Where windows
//    overlap, the tokens the previous window already trained on are context only, so every token
//    is trained once and overlap only adds context (the sliding-window convention).
// BOS and EOS go where the tokenizer and template put them (data/segments.hpp says where).
// An example longer than seq_len is an error unless `truncate`, which keeps its first seq_len
// tokens and counts it: truncation is reported, never silent.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "data/batches.hpp"
#include "data/model_text.hpp"

namespace vktrain::data {

struct DatasetOptions {
  int64_t seq_len = 0;           // T: the longest example
  bool train_on_inputs = false;  // train on prompts, system and user turns too
  bool truncate = false;         // cut examples longer than seq_len instead of failing
  int64_t stride = 0;            // .txt windows start every `stride` tokens; 0: seq_len
};

struct TokenizedDataset {
  std::vector<TokenSequence> sequences;
  // What the file held, for the run's report: examples (windows for .txt) by format, their
  // tokens, the tokens that count in the loss (trained[i] for i >= 1: the first token of a
  // sequence is never predicted) and the examples cut to seq_len.
  int64_t examples = 0, text = 0, prompt_completion = 0, chat = 0;
  int64_t tokens = 0, trained_tokens = 0, truncated = 0;
  bool from_cache = false;  // load_or_tokenize found it in the cache
};

// --data as a file or as mlx-lm's data folder (train.jsonl, valid.jsonl, test.jsonl). A file is
// returned as given; for a folder, the first of `splits` ("train", "valid", "test") whose
// <split>.jsonl it holds, or one error naming the folder and the files it lacks.
std::string data_file(const std::string& path, const std::vector<std::string>& splits);
// The folder's <split>.jsonl when `path` is a folder holding it.
std::optional<std::string> data_folder_file(const std::string& path, const std::string& split);

bool is_plain_text(const std::string& path);  // a .txt file: pre-training windows

TokenizedDataset tokenize_dataset(const std::string& path, const ModelText& text,
                                  const DatasetOptions& options);

// Holds out round(fraction * n) sequences (at least one, and at least one left to train on)
// picked by `seed`; both sides keep the file's order. fraction 0: nothing held out.
std::pair<std::vector<TokenSequence>, std::vector<TokenSequence>> split_validation(
    std::vector<TokenSequence> sequences, double fraction, uint64_t seed);

// tokenize_dataset through a cache file in `cache_dir` (created when missing) named by a hash of
// the data file's bytes, the tokenizer and chat template, and the options. A cache file is used
// only when its header, sizes and checksum all hold; otherwise it is rebuilt and replaced
// atomically.
TokenizedDataset load_or_tokenize(const std::string& path, const ModelText& text,
                                  const DatasetOptions& options, const std::string& cache_dir);

}  // namespace vktrain::data
