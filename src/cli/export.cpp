#include "cli/export.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "base/dtype.hpp"
#include "base/error.hpp"
#include "data/tokenizer_gguf_export.hpp"
#include "io/atomic_dir.hpp"
#include "io/checkpoint.hpp"
#include "io/gguf_export.hpp"
#include "io/gguf_lora.hpp"
#include "io/model_config_writer.hpp"
#include "io/model_files.hpp"
#include "io/peft_adapter.hpp"
#include "io/safetensors.hpp"
#include "model/adapter_merge.hpp"
#include "model/expert_tensors.hpp"
#include "model/loader.hpp"

namespace vktrain::cli {
namespace {

namespace fs = std::filesystem;

io::GgmlType gguf_type(const ExportOptions& o) {
  const bool lora = o.format == "gguf-lora";
  const std::string name = o.gguf_type.value_or(lora ? "f32" : "f16");
  if (name == "f32") return io::GgmlType::f32;
  if (name == "f16") return io::GgmlType::f16;
  if (name == "q8_0" && !lora) return io::GgmlType::q8_0;
  fail("[export] --gguf-type '{}' is not a {} type; use {}", name, o.format,
       lora ? "f32 or f16" : "f32, f16 or q8_0");
}

// The dtype of the merged safetensors: the base's float type, bf16 for a GGUF base.
DType merged_dtype(const io::ModelSource& model) {
  if (model.is_gguf()) return DType::bf16;
  const io::Checkpoint& checkpoint = model.checkpoint();
  const std::string dtype = checkpoint.entry(checkpoint.names().front()).dtype;
  return dtype == "F32" ? DType::f32 : dtype == "F16" ? DType::f16 : DType::bf16;
}

// Each base weight of the model, with the adapter merged into it when there is one.
void for_each_merged_weight(const io::ModelConfig& config, const io::ModelSource& model,
                            const io::PeftAdapter* adapter, const model::UseWeight& use) {
  model::read_base_weights(
      config, model, [](const std::string&) { return true; },
      [&](const model::ParameterSpec& spec, std::vector<float> values) {
        if (adapter) model::merge_adapter(values, config, spec.name, *adapter);
        use(spec, std::move(values));
      });
}

void export_hf(const ExportOptions& o, const io::ModelSource& source, const io::ModelConfig& config,
               const io::PeftAdapter* adapter) {
  const DType dtype = merged_dtype(source);
  io::AtomicDirectory staging(o.out, "export");
  io::write_model_config(staging.file("config.json"), config, dtype);
  std::vector<std::vector<std::byte>> data;  // kept alive until the file is written
  std::vector<io::SafetensorsTensor> tensors;
  for_each_merged_weight(config, source, adapter,
                         [&](const model::ParameterSpec& spec, std::vector<float> values) {
                           const auto hub = model::hub_tensors(config, {spec});  // hub experts
                           const auto hub_value = model::hub_values(
                               hub, [&](size_t) { return std::move(values); });
                           for (size_t i = 0; i < hub.size(); ++i) {
                             data.push_back(float_bytes(hub_value(i), dtype));
                             tensors.push_back({hub[i].name, io::safetensors_dtype_name(dtype),
                                                hub[i].shape, {}});
                           }
                         });
  for (size_t i = 0; i < tensors.size(); ++i) tensors[i].bytes = data[i];
  io::write_safetensors(staging.file("model.safetensors"), tensors, {{"format", "pt"}});
  if (!source.is_gguf()) io::copy_tokenizer_files(o.model, staging.path(), "export");
  staging.commit();
}

// One base weight into the GGUF file; a fused gate_up as llama.cpp's two stacked halves.
void add_gguf_weight(io::GgufModelFile& file, const io::ModelConfig& config,
                     const model::ParameterSpec& spec, std::span<const float> values,
                     io::GgmlType type) {
  const auto halves = model::gate_up_halves(spec);
  if (!halves) return io::add_hf_weight(file, config, spec.name, spec.shape, values, type);
  auto [gate, up] = model::split_gate_up(values, spec.shape[0]);
  io::add_hf_weight(file, config, halves->gate, halves->shape, gate, type);
  io::add_hf_weight(file, config, halves->up, halves->shape, up, type);
}

void export_gguf(const ExportOptions& o, const io::ModelSource& source,
                 const io::ModelConfig& config, const io::PeftAdapter* adapter) {
  // A GGUF base keeps its own types (a Q4_K_M file stays Q4_K_M) unless --gguf-type says otherwise.
  if (adapter && !o.gguf_type && source.is_gguf())
    return model::write_merged_gguf(o.out, source.gguf(), config, *adapter);
  const io::GgmlType type = gguf_type(o);
  io::GgufModelFile file = io::gguf_model_file(config, type);
  auto vocabulary = data::gguf_tokenizer_metadata(source, config);
  if (vocabulary.empty())
    fmt::print(stderr, "export: note: {} has no tokenizer.json, so {} holds no vocabulary; "
                       "llama.cpp needs one\n", o.model, o.out);
  for (auto& [key, value] : vocabulary) file.metadata.insert_or_assign(key, std::move(value));
  for_each_merged_weight(config, source, adapter,
                         [&](const model::ParameterSpec& spec, std::vector<float> values) {
                           add_gguf_weight(file, config, spec, values, type);
                         });
  file.write(o.out);
}

}  // namespace

int run_export(const ExportOptions& o) {
  if (o.format != "peft" && o.format != "gguf-lora" && o.format != "hf" && o.format != "gguf")
    fail("[export] --format '{}' is unknown; use peft, gguf-lora, hf or gguf", o.format);
  if (o.gguf_type) gguf_type(o);  // a bad type fails before any work
  if (o.out.empty()) fail("[export] --out is empty; give a path to write");
  const bool writes_adapter = o.format == "peft" || o.format == "gguf-lora";
  if (o.adapter.empty() && writes_adapter)
    fail("[export] --format {} writes an adapter: give --adapter DIR (a PEFT adapter or LoRA "
         "checkpoint directory), or use --format gguf or hf to convert the model itself",
         o.format);
  if (!o.adapter.empty() && !fs::is_directory(o.adapter))
    fail("[export] --adapter {} is not a directory; give a PEFT adapter or LoRA checkpoint "
         "directory (adapter_config.json + adapter_model.safetensors)",
         o.adapter);
  const io::ModelSource source(o.model);
  const io::ModelConfig config = source.config();
  if (o.adapter.empty()) {
    // A model pre-trained or fully fine-tuned (or any base) converted as it is.
    if (o.format == "hf") export_hf(o, source, config, nullptr);
    if (o.format == "gguf") export_gguf(o, source, config, nullptr);
    fmt::print("export: {} model {} as {} -> {}\n", io::family_name(config.family), o.model,
               o.format, o.out);
    return 0;
  }
  const io::PeftAdapter adapter = io::read_peft_adapter(o.adapter);
  model::check_adapter_fits(adapter, config, o.adapter);

  if (o.format == "peft") io::write_peft_adapter(o.out, adapter);
  if (o.format == "gguf-lora") io::write_gguf_lora(o.out, config, adapter, gguf_type(o));
  if (o.format == "hf") export_hf(o, source, config, &adapter);
  if (o.format == "gguf") export_gguf(o, source, config, &adapter);
  fmt::print("export: {} adapter (rank {}, alpha {}{}) {} -> {}\n",
             io::family_name(config.family), adapter.lora.rank, adapter.lora.alpha,
             adapter.lora.rslora ? ", rsLoRA" : "",
             writes_adapter ? "as " + o.format : "merged into the model as " + o.format, o.out);
  return 0;
}

}  // namespace vktrain::cli
