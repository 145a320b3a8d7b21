// compare_runs A B [TOLERANCE]: whether two run directories trained the same model, as the
// data-parallel tests (mpi_train.sh) need: the losses and evaluation losses of metrics.jsonl
// step by step (relative),
// and every tensor of the trained files (adapter_model.safetensors or model.safetensors) and of
// the last checkpoint's optimizer.safetensors and, full fine-tuning, its model.safetensors (the
// f32 masters) (|a - b| <= TOLERANCE x max(1, |a|)). Default
// tolerance 1e-6. Prints what it compared; exits 1 naming the first difference.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/dtype.hpp"
#include "base/error.hpp"
#include "io/safetensors.hpp"

namespace {

using vktrain::fail;

// The training loss of every step, and its evaluation loss after it (NaN where none ran).
std::vector<double> losses(const std::string& run) {
  std::ifstream in(run + "/metrics.jsonl");
  if (!in) fail("[compare_runs] {}/metrics.jsonl cannot be read", run);
  std::vector<double> out;
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json step = nlohmann::json::parse(line);
    out.push_back(step.at("loss").get<double>());
    out.push_back(step.value("eval_loss", std::nan("")));
  }
  return out;
}

// F32, the BF16 / F16 values a full fine-tuning run in those types writes as its result, or
// U8 (AdamW 8-bit's codes: equal within the tolerance only where equal).
std::vector<float> floats(const vktrain::io::SafetensorsReader& file, const std::string& name) {
  const std::string& dtype = file.entry(name).dtype;
  auto bytes = file.data(name);
  if (dtype == "F32") {
    std::vector<float> values(bytes.size() / sizeof(float));
    std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
    return values;
  }
  if (dtype == "U8") {
    std::vector<float> values;
    for (std::byte b : bytes) values.push_back(float(uint8_t(b)));
    return values;
  }
  if (dtype != "BF16" && dtype != "F16") fail("[compare_runs] {} is {}, not F32, BF16, F16 or U8", name, dtype);
  std::vector<uint16_t> half(bytes.size() / sizeof(uint16_t));
  std::memcpy(half.data(), bytes.data(), half.size() * sizeof(uint16_t));
  std::vector<float> values;
  for (uint16_t h : half) values.push_back(dtype == "BF16" ? vktrain::bf16_to_f32(h) : vktrain::f16_to_f32(h));
  return values;
}

// Compares every tensor of A/file with B/file; returns how many values.
size_t compare_tensors(const std::string& a, const std::string& b, const std::string& file,
                       double tolerance) {
  vktrain::io::SafetensorsReader x(a + "/" + file), y(b + "/" + file);
  if (x.tensors().size() != y.tensors().size())
    fail("[compare_runs] {}: {} tensors in {}, {} in {}", file, x.tensors().size(), a,
         y.tensors().size(), b);
  size_t values = 0;
  for (const auto& [name, entry] : x.tensors()) {
    const std::vector<float> u = floats(x, name), v = floats(y, name);
    if (u.size() != v.size()) fail("[compare_runs] {}: {} differs in size", file, name);
    for (size_t i = 0; i < u.size(); ++i)
      if (!(std::abs(double(u[i]) - double(v[i])) <=
            tolerance * std::max(1.0, std::abs(double(u[i])))))
        fail("[compare_runs] {}: {}[{}] is {} in {}, {} in {}", file, name, i, u[i], a, v[i], b);
    values += u.size();
  }
  return values;
}

std::string last_checkpoint(const std::string& run) {
  std::string best;
  long best_step = -1;
  for (const auto& e : std::filesystem::directory_iterator(run)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("checkpoint-", 0) != 0 || name.find(".tmp") != std::string::npos) continue;
    const long step = std::strtol(name.c_str() + 11, nullptr, 10);
    if (step > best_step) best_step = step, best = name;
  }
  if (best.empty()) fail("[compare_runs] {} has no checkpoint", run);
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    fmt::print(stderr, "usage: compare_runs RUN_A RUN_B [TOLERANCE]\n");
    return 2;
  }
  const std::string a = argv[1], b = argv[2];
  const double tolerance = argc == 4 ? std::strtod(argv[3], nullptr) : 1e-6;
  try {
    const std::vector<double> la = losses(a), lb = losses(b);
    if (la.size() != lb.size() || la.empty())
      fail("[compare_runs] {} has {} steps, {} has {}", a, la.size() / 2, b, lb.size() / 2);
    size_t evaluations = 0;
    for (size_t i = 0; i < la.size(); ++i) {
      if (std::isnan(la[i]) && std::isnan(lb[i])) continue;
      evaluations += i % 2;
      if (!(std::abs(la[i] - lb[i]) <= tolerance * std::abs(la[i])))
        fail("[compare_runs] step {}: {} {} in {}, {} in {}", i / 2 + 1,
             i % 2 ? "eval loss" : "loss", la[i], a, lb[i], b);
    }
    const std::string trained = std::filesystem::exists(a + "/adapter_model.safetensors")
                                    ? "adapter_model.safetensors"
                                    : "model.safetensors";
    const size_t weights = compare_tensors(a, b, trained, tolerance);
    const std::string checkpoint = last_checkpoint(a);
    if (checkpoint != last_checkpoint(b))
      fail("[compare_runs] the last checkpoints differ: {} and {}", checkpoint,
           last_checkpoint(b));
    const size_t state = compare_tensors(a, b, checkpoint + "/optimizer.safetensors", tolerance);
    // Full fine-tuning: the f32 masters too (the result may be in the run's 16-bit type).
    if (std::filesystem::exists(a + "/" + checkpoint + "/model.safetensors"))
      compare_tensors(a, b, checkpoint + "/model.safetensors", tolerance);
    fmt::print("same run: {} losses, {} evaluations, {} values of {}, {} of "
               "{}/optimizer.safetensors within {}\n",
               la.size() / 2, evaluations, weights, trained, state, checkpoint, tolerance);
    return 0;
  } catch (const std::exception& e) {
    fmt::print("FAIL: {}\n", e.what());
    return 1;
  }
}
