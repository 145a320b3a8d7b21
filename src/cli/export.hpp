#pragma once
#include <optional>
#include <string>

namespace vktrain::cli {

struct ExportOptions {
  std::string model;    // --model DIR|GGUF: the base model the adapter was trained on
  std::string adapter;  // --adapter DIR: a PEFT adapter directory (a LoRA checkpoint is one);
                        // empty: hf and gguf convert the model as it is
  std::string out;      // --out PATH: a directory (peft, hf) or a file (gguf-lora, gguf)
  std::string format = "peft";           // --format peft, gguf-lora, hf or gguf
  std::optional<std::string> gguf_type;  // --gguf-type: gguf f32, f16 (default), q8_0;
                                         // gguf-lora f32 (default), f16
};

// `vktrain export`: an adapter as the tools people already use take it, read and written on the
// host (no device):
//   peft       adapter_config.json + adapter_model.safetensors (io/peft_adapter.hpp), f32
//   gguf-lora  a llama.cpp LoRA adapter (io/gguf_lora.hpp), for `llama-cli --lora`
//   hf         the merged model W + s B A (model/adapter_merge.hpp) as a Hugging Face
//              directory: config.json, model.safetensors in the base's dtype (bf16 for a GGUF
//              base), the base directory's tokenizer files
//   gguf       the merged model as convert_hf_to_gguf.py writes it (io/gguf_export.hpp), its
//              vocabulary the base's (a GGUF base's tokenizer.* keys; a directory's tokenizer.json,
//              byte-level or SentencePiece: data/tokenizer_gguf_export.hpp)
// hf and gguf without an adapter write the model as it is (a pre-trained or fully fine-tuned
// vktrain model, a Hugging Face base); peft and gguf-lora need one. The adapter must fit the
// model (every target, every shape). Outputs appear complete or not at
// all: directories through io::AtomicDirectory, files through a temporary and a rename. Prints
// one line: what was written where.
int run_export(const ExportOptions& options);

}  // namespace vktrain::cli
