#pragma once
// A GGUF file as llama.cpp's convert_hf_to_gguf.py writes one for a config (io::gguf_model_file:
// the metadata and rope_freqs.weight), plus a vocabulary of placeholder tokens and, when the
// embeddings are untied, an output.weight stand-in of 0.01s. Tests add or change keys and
// tensors before writing it.
#include "io/gguf_export.hpp"
#include "io/model_config.hpp"
#include "support/support.hpp"

namespace vktrain::test {

struct ConvertedGguf : io::GgufModelFile {
  std::string write(const std::string& path) const;  // -> path
  // Writes dir/model.gguf and reads its config back.
  io::ModelConfig read(const TempDir& dir) const;
};

ConvertedGguf converted_gguf(const io::ModelConfig& config);

// A small config of the family for GGUF tests: V 64, C 32, F 48, 4 query and 2 kv heads of
// D 8, context 256, no sliding layers.
io::ModelConfig small_gguf_config(io::Family family, int64_t layers);

}  // namespace vktrain::test
