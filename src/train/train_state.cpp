#include "train/train_state.hpp"

#include <charconv>
#include <filesystem>
#include <optional>
#include <set>

#include "base/error.hpp"
#include "io/json_file.hpp"

namespace fs = std::filesystem;

namespace vktrain::train {
namespace {

using nlohmann::json;

// Bumped when the meaning of a field changes, so an old checkpoint is refused, not misread.
constexpr int64_t kVersion = 1;
constexpr int64_t kMaxCount = int64_t(1) << 53;
constexpr size_t kMaxRngWords = 64;  // the trainer reads rng[0]; no generator needs more
constexpr double kMaxLossScale = 4294967296.0;  // 2^32; fp16 scaling never nears it

std::string state_file(const std::string& checkpoint) {
  return (fs::path(checkpoint) / kTrainStateFile).string();
}

struct Difference {
  std::string key;  // dotted for nested objects: "lora.rank"
  json saved, now;  // null where the key is absent
};

// The first key, in sorted order, where `saved` and `now` differ.
std::optional<Difference> first_difference(const json& saved, const json& now,
                                           const std::string& prefix) {
  std::set<std::string> keys;
  for (const auto& [key, value] : saved.items()) keys.insert(key);
  for (const auto& [key, value] : now.items()) keys.insert(key);
  for (const auto& key : keys) {
    json x = saved.contains(key) ? saved[key] : json();
    json y = now.contains(key) ? now[key] : json();
    if (x.is_object() && y.is_object()) {
      if (auto inner = first_difference(x, y, prefix + key + ".")) return inner;
    } else if (x != y) {
      return Difference{prefix + key, x, y};
    }
  }
  return std::nullopt;
}

std::string shown(const json& value) { return value.is_null() ? "absent" : value.dump(); }

// The settings as a resume compares them: `ranks` (absent: one) and `grad_accum` folded into
// `micro_batches`, a step's over every rank. Those, not how the ranks share them, decide what is
// trained (train/step.hpp), and a checkpoint's optimizer state is whole however many ranks
// wrote it (train/optimizer.hpp), so a run resumes on another number of ranks whose
// --grad-accum keeps the product. None where a count is out of range.
std::optional<json> per_step(json settings) {
  const auto accum = settings.find("grad_accum");
  const auto ranks = settings.find("ranks");
  auto count = [](json::const_iterator value, int64_t most) {
    return value->is_number_integer() && value->get<int64_t>() >= 1 &&
           value->get<int64_t>() <= most;
  };
  if (accum == settings.end() || !count(accum, int64_t(1) << 32) ||
      (ranks != settings.end() && !count(ranks, int64_t(1) << 20)))
    return std::nullopt;
  const int64_t micro_batches =
      accum->get<int64_t>() * (ranks == settings.end() ? 1 : ranks->get<int64_t>());
  if (ranks != settings.end()) settings.erase(ranks);
  settings.erase(accum);
  settings["micro_batches"] = micro_batches;
  return settings;
}

}  // namespace

void write_train_state(const std::string& checkpoint, const TrainState& state) {
  json out = {{"version", kVersion},
              {"step", state.step},
              {"epoch", state.epoch},
              {"data_position", state.data_position},
              {"shuffle_seed", state.shuffle_seed},
              {"rng", state.rng},
              {"loss_scale", state.loss_scale},
              {"settings", state.settings}};
  io::write_json_file(state_file(checkpoint), out, "train");
}

TrainState read_train_state(const std::string& checkpoint) {
  const std::string path = state_file(checkpoint);
  const json j = io::read_json_file(path, "train");
  io::JsonFields in(j, path, "train");
  if (auto version = in.need<int64_t>("version"); version != kVersion)
    in.fail_field("version", "is {}; this vktrain reads version {} (written by another release?)",
                  version, kVersion);
  TrainState state;
  // Counts past 2^53 (where doubles in the metrics stop being exact) are no real run's.
  auto count = [&](const char* key) {
    auto value = in.need<int64_t>(key);
    if (value < 0 || value > kMaxCount)
      in.fail_field(key, "is {}; it must be a count in 0..{}", value, kMaxCount);
    return value;
  };
  state.step = count("step");
  state.epoch = count("epoch");
  state.data_position = count("data_position");
  state.shuffle_seed = in.need<uint64_t>("shuffle_seed");
  const json& rng = in.at("rng");
  if (!rng.is_array() || rng.empty() || rng.size() > kMaxRngWords)
    in.fail_field("rng", "is {}; it must list the generator's state, 1 to {} numbers",
                  io::JsonFields::shown(rng), kMaxRngWords);
  for (const json& word : rng) {
    if (!word.is_number_unsigned())  // nlohmann would turn -1 into 2^64 - 1
      in.fail_field("rng", "holds {}, not an unsigned 64-bit number", io::JsonFields::shown(word));
    state.rng.push_back(word.get<uint64_t>());
  }
  state.loss_scale = in.need<double>("loss_scale");
  if (!(state.loss_scale > 0 && state.loss_scale <= kMaxLossScale))
    in.fail_field("loss_scale", "is {}; it must be in (0, {}]", state.loss_scale, kMaxLossScale);
  state.settings = in.at("settings");
  if (!state.settings.is_object()) in.fail_field("settings", "is not an object");
  return state;
}

void require_same_settings(const TrainState& saved, const json& settings,
                           const std::string& checkpoint) {
  const std::optional<json> then = per_step(saved.settings), now = per_step(settings);
  auto difference = then && now ? first_difference(*then, *now, "")
                                : first_difference(saved.settings, settings, "");
  if (!difference) return;
  if (difference->key == "micro_batches") {
    auto shares = [](const json& s) {
      return s.value("ranks", json(1)).dump() + " x " + s.value("grad_accum", json()).dump();
    };
    fail("[train] cannot resume from {}: its steps took {} micro-batches (ranks x --grad-accum: "
         "{}), this run's {}; resume with ranks x --grad-accum = {} or start a new run",
         checkpoint, shown(difference->saved), shares(saved.settings), shares(settings),
         shown(difference->saved));
  }
  if (difference->key == "optimizer.name") {  // absent: adamw (cli/train.cpp)
    auto name = [](const json& value) {
      return value.is_string() ? value.get<std::string>() : std::string("adamw");
    };
    fail("[train] cannot resume from {}: its optimizer state is {}'s, this run's optimizer is {}; "
         "resume with --optimizer {} or start a new run",
         checkpoint, name(difference->saved), name(difference->now), name(difference->saved));
  }
  fail("[train] cannot resume from {}: setting '{}' was {} there and is {} now; resume with the "
       "same settings or start a new run",
       checkpoint, difference->key, shown(difference->saved), shown(difference->now));
}

std::string checkpoint_dir(const std::string& run_dir, int64_t step) {
  return (fs::path(run_dir) / ("checkpoint-" + std::to_string(step))).string();
}

std::optional<std::string> latest_checkpoint(const std::string& run_dir) {
  std::error_code ec;
  std::optional<std::string> latest;
  int64_t latest_step = -1;
  for (const auto& entry : fs::directory_iterator(run_dir, ec)) {
    const std::string name = entry.path().filename().string();
    constexpr std::string_view prefix = "checkpoint-";
    if (!name.starts_with(prefix)) continue;
    int64_t step = -1;
    const char* first = name.data() + prefix.size();
    const char* last = name.data() + name.size();
    auto [end, error] = std::from_chars(first, last, step);
    if (error != std::errc() || end != last || first == last || step < 0) continue;
    if (!fs::is_regular_file(entry.path() / kTrainStateFile, ec)) continue;
    if (step > latest_step) {
      latest_step = step;
      latest = entry.path().string();
    }
  }
  return latest;
}

}  // namespace vktrain::train
