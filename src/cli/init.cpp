#include "cli/init.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "base/dtype.hpp"
#include "base/error.hpp"
#include "data/tokenizer.hpp"
#include "io/atomic_dir.hpp"
#include "io/model_config_writer.hpp"
#include "io/model_files.hpp"
#include "io/safetensors.hpp"
#include "model/expert_tensors.hpp"
#include "model/init.hpp"
#include "model/presets.hpp"

namespace vktrain::cli {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kVocabMultiple = 64;

DType weight_dtype(const std::string& name) {
  if (name != "f32" && name != "bf16" && name != "f16")
    fail("[init] --dtype '{}' is not a weight type; use f32, bf16 or f16", name);
  return dtype_from_name(name);
}

void set_vocabulary(io::ModelConfig& c, const InitOptions& o) {
  if (o.vocab && *o.vocab <= 0) fail("[init] --vocab must be positive, got {}", *o.vocab);
  if (o.tokenizer) {
    const auto tokenizer = data::Tokenizer::from_directory(*o.tokenizer);
    const int64_t ids = int64_t(tokenizer.vocab_size());
    if (o.vocab && *o.vocab < ids)
      fail("[init] --vocab {} is fewer than the {} token ids of the tokenizer in {}", *o.vocab,
           ids, *o.tokenizer);
    c.vocab_size = o.vocab ? *o.vocab : (ids + kVocabMultiple - 1) / kVocabMultiple * kVocabMultiple;
    if (auto bos = tokenizer.bos_id()) c.bos_token_id = *bos;
    if (auto eos = tokenizer.eos_id()) c.eos_token_ids = {*eos};
  } else if (o.vocab) {
    c.vocab_size = *o.vocab;
  }
  if (c.bos_token_id && *c.bos_token_id >= c.vocab_size) c.bos_token_id.reset();
  std::erase_if(c.eos_token_ids, [&](int64_t id) { return id >= c.vocab_size; });
}

// "runs/new/" -> "runs/new": the staging directory is a sibling named after it.
fs::path output_path(const std::string& out) {
  if (out.empty()) fail("[init] --out is empty; give a new directory");
  fs::path path = fs::path(out).lexically_normal();
  return path.has_filename() ? path : path.parent_path();
}

// The model is written into DIR.tmp, which becomes DIR only when complete (DESIGN.md decision
// 11); a run that fails removes it. DIR may be absent or an empty directory (rename replaces an
// empty one), never anything that holds files.
// --out must be new or empty: init never replaces a model. The model is written into a staging
// sibling (io::AtomicDirectory) that becomes DIR only when complete (DESIGN.md decision 11); a
// run that fails removes it.
void require_new_directory(const fs::path& target) {
  std::error_code ec;
  if (!fs::exists(target, ec)) return;
  if (!fs::is_directory(target)) fail("[init] --out {} is a file; give a new directory", target.string());
  if (!fs::is_empty(target))
    fail("[init] --out {} is not empty; give a new or empty directory", target.string());
}

// Returns the number of parameters written.
int64_t write_weights(const std::string& path, const io::ModelConfig& config, uint64_t seed,
                      DType dtype) {
  const auto specs = model::base_parameters(config);
  const auto hub = model::hub_tensors(config, specs);  // experts as the hub's checkpoints hold them
  std::vector<io::NamedShape> tensors;
  for (const auto& t : hub) tensors.push_back({t.name, t.shape});
  return io::write_model_safetensors(
      path, tensors,
      model::hub_values(hub, [&](size_t i) { return model::initial_values(config, specs[i], seed); }),
      dtype);
}

}  // namespace

int run_init(const InitOptions& o) {
  const DType dtype = weight_dtype(o.dtype);
  io::ModelConfig config = model::model_preset(o.family, o.size);
  set_vocabulary(config, o);
  const fs::path out = output_path(o.out);

  require_new_directory(out);
  io::AtomicDirectory staging(out.string(), "init");
  io::write_model_config(staging.file("config.json"), config, dtype);
  const int64_t parameters = write_weights(staging.file("model.safetensors"), config, o.seed, dtype);
  if (o.tokenizer) io::copy_tokenizer_files(*o.tokenizer, staging.path(), "init");
  staging.commit();
  fmt::print("init: {} {}, {} parameters ({:.1f} M, {}), vocabulary {}, seed {} -> {}\n",
             io::family_name(config.family), o.size, parameters, double(parameters) / 1e6,
             dtype_name(dtype), config.vocab_size, o.seed, out.string());
  return 0;
}

}  // namespace vktrain::cli
