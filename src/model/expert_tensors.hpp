#pragma once
// A mixture-of-experts layer's parameters (transformers 5's fused layout, the device's:
// "…mlp.gate.weight" [E, C], "…mlp.experts.gate_up_proj" [E, 2F, C], "…mlp.experts.down_proj"
// [E, C, F]) as the Hugging Face hub's checkpoints store them, one tensor per expert and
// projection, under the family's names (arch::MoeNames; Qwen3-MoE's here, Mixtral's
// "block_sparse_moe.experts.{e}.w1/w3/w2.weight" and "block_sparse_moe.gate.weight"):
//   "…mlp.experts.{e}.gate_proj.weight" [F, C]  rows [0, F) of expert e's gate_up
//   "…mlp.experts.{e}.up_proj.weight"   [F, C]  rows [F, 2F)
//   "…mlp.experts.{e}.down_proj.weight" [C, F]  expert e's down
// Each piece is a contiguous range of the fused tensor (a renamed router: all of it). The loader
// reads either form; writers write the hub's, which transformers and llama.cpp's converter read.
// gpt-oss's checkpoints (arch::MoeNames::interleaved_gate_up) hold each expert parameter whole
// under the device's name, in another order: one piece of HubOrder other than `same`:
//   gate_up_proj      [E, C, 2F]  x @ W: column 2f is device row f (gate), 2f + 1 row F + f (up)
//   gate_up_proj_bias [E, 2F]     element 2f is device element f, 2f + 1 is F + f
//   down_proj         [E, F, C]   the device's [E, C, F] transposed per expert
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <utility>
#include <string>
#include <vector>

#include "model/layout.hpp"

namespace vktrain::model {

// Whether `name` is an expert weight [E, R, Q] (…mlp.experts.gate_up_proj or down_proj): the
// matrices a quantized base may keep in a block type, read by ops::moe_matmul.
bool is_expert_matrix(const std::string& name);

// How a hub tensor's values are ordered against its range of the device's parameter.
enum class HubOrder {
  same,
  transposed,              // device [E, a, b] is [E, b, a] in the file
  interleaved,             // device [E, 2F] (gate, then up) alternates gate and up in the file
  transposed_interleaved,  // device [E, 2F, C] is [E, C, 2F] with gate and up alternating
};

struct ExpertPiece {
  std::string name;
  std::vector<int64_t> shape;  // as the file holds it
  uint64_t offset = 0;  // first element in the fused parameter
  HubOrder order = HubOrder::same;
};

// A piece's values from the file's order to the device's, and back (sizes must match its shape).
std::vector<float> hub_to_device(const ExpertPiece& piece, std::vector<float> values);
std::vector<float> device_to_hub(const ExpertPiece& piece, std::vector<float> values);

// The hub's tensors of a fused expert parameter, in expert order, or of a router the family's
// hub names otherwise; empty for any other parameter.
std::vector<ExpertPiece> expert_pieces(const io::ModelConfig& config, const ParameterSpec& spec);

// The tensors a Hugging Face checkpoint of these parameters holds, in order: each parameter as
// it is, a fused expert one as its pieces; `parameter` indexes `specs`.
struct HubTensor {
  std::string name;
  std::vector<int64_t> shape;
  size_t parameter = 0;
  uint64_t offset = 0;
  HubOrder order = HubOrder::same;
};
std::vector<HubTensor> hub_tensors(const io::ModelConfig& config,
                                   const std::vector<ParameterSpec>& specs);

// The names and shape [E, F, C] of the two tensors GGUF holds for a fused gate_up parameter
// (arch::hf::kExpertsGate and kExpertsUp in its layer), or [E, F] for gpt-oss's gate_up bias
// (kExpertsGateBias, kExpertsUpBias); nullopt for any other parameter.
struct GateUpHalves {
  std::string gate, up;
  std::vector<int64_t> shape;
};
std::optional<GateUpHalves> gate_up_halves(const ParameterSpec& spec);

// llama.cpp's stacked halves of a fused gate_up [E, 2F, C]: gate [E, F, C] and up [E, F, C]
// (GGUF's ffn_gate_exps / ffn_up_exps), and back; a gate_up bias [E, 2F] alike. Sizes must be
// whole experts (fails otherwise).
std::pair<std::vector<float>, std::vector<float>> split_gate_up(std::span<const float> gate_up,
                                                                int64_t experts);
std::vector<float> join_gate_up(std::span<const float> gate, std::span<const float> up,
                                int64_t experts);
// The same on a block-quantized gate_up's encoded rows (GGUF's Q4_K experts kept as they are:
// each expert's rows are whole blocks, so its halves are contiguous bytes).
std::pair<std::vector<std::byte>, std::vector<std::byte>> split_gate_up(
    std::span<const std::byte> gate_up, int64_t experts);
std::vector<std::byte> join_gate_up(std::span<const std::byte> gate,
                                    std::span<const std::byte> up, int64_t experts);

// Values of hub_tensors(specs)[i] from `parameter_values` (a parameter's values by index into
// `specs`), asked in order: each parameter is asked once while its pieces are written.
std::function<std::vector<float>(size_t)> hub_values(
    const std::vector<HubTensor>& tensors,
    std::function<std::vector<float>(size_t parameter)> parameter_values);

}  // namespace vktrain::model
