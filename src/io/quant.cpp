#include "io/quant.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <thread>

#include "base/dtype.hpp"
#include "base/error.hpp"
#include "io/quant_codecs.hpp"

namespace vktrain::io {
namespace {

struct TypeInfo {
  GgmlType type;
  std::string_view name;
  GgmlBlock block;
};

// gguf-py's GGML_QUANT_SIZES: every type a GGUF file may hold, so files with types we cannot
// decode still open and their sizes check out.
constexpr TypeInfo kTypes[] = {
    {GgmlType::f32, "F32", {1, 4}},          {GgmlType::f16, "F16", {1, 2}},
    {GgmlType::q4_0, "Q4_0", {32, 18}},      {GgmlType::q4_1, "Q4_1", {32, 20}},
    {GgmlType::q5_0, "Q5_0", {32, 22}},      {GgmlType::q5_1, "Q5_1", {32, 24}},
    {GgmlType::q8_0, "Q8_0", {32, 34}},      {GgmlType::q8_1, "Q8_1", {32, 40}},
    {GgmlType::q2_k, "Q2_K", {256, 84}},     {GgmlType::q3_k, "Q3_K", {256, 110}},
    {GgmlType::q4_k, "Q4_K", {256, 144}},    {GgmlType::q5_k, "Q5_K", {256, 176}},
    {GgmlType::q6_k, "Q6_K", {256, 210}},    {GgmlType::q8_k, "Q8_K", {256, 292}},
    {GgmlType::iq2_xxs, "IQ2_XXS", {256, 66}}, {GgmlType::iq2_xs, "IQ2_XS", {256, 74}},
    {GgmlType::iq3_xxs, "IQ3_XXS", {256, 98}}, {GgmlType::iq1_s, "IQ1_S", {256, 50}},
    {GgmlType::iq4_nl, "IQ4_NL", {32, 18}},  {GgmlType::iq3_s, "IQ3_S", {256, 110}},
    {GgmlType::iq2_s, "IQ2_S", {256, 82}},   {GgmlType::iq4_xs, "IQ4_XS", {256, 136}},
    {GgmlType::i8, "I8", {1, 1}},            {GgmlType::i16, "I16", {1, 2}},
    {GgmlType::i32, "I32", {1, 4}},          {GgmlType::i64, "I64", {1, 8}},
    {GgmlType::f64, "F64", {1, 8}},          {GgmlType::iq1_m, "IQ1_M", {256, 56}},
    {GgmlType::bf16, "BF16", {1, 2}},        {GgmlType::tq1_0, "TQ1_0", {256, 54}},
    {GgmlType::tq2_0, "TQ2_0", {256, 66}},   {GgmlType::mxfp4, "MXFP4", {32, 17}},
};

const TypeInfo* find_type(GgmlType type) {
  for (const auto& t : kTypes)
    if (t.type == type) return &t;
  return nullptr;
}

template <typename Block>
void decode_blocks(std::span<float> out, std::span<const std::byte> in) {
  Block block;
  for (size_t b = 0; b < out.size() / Block::kValues; ++b) {
    std::memcpy(&block, in.data() + b * sizeof(Block), sizeof(Block));
    codec::decode(block, out.data() + b * Block::kValues);
  }
}

// Blocks are independent, and the K-quant searches cost thousands of operations per value
// (quantizing an 8B model on load is minutes of work), so a large tensor is split into ranges
// of blocks, one thread each. The first error of any range is rethrown.
template <typename Block>
void encode_blocks(std::span<std::byte> out, std::span<const float> in) {
  const size_t blocks = in.size() / Block::kValues;
  auto encode_range = [&](size_t first, size_t last) {
    Block block;
    for (size_t b = first; b < last; ++b) {
      std::memset(&block, 0, sizeof(Block));
      codec::encode(in.data() + b * Block::kValues, block);
      std::memcpy(out.data() + b * sizeof(Block), &block, sizeof(Block));
    }
  };
  constexpr size_t kBlocksPerThread = 4096;
  const size_t threads = std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()),
                                          blocks / kBlocksPerThread);
  if (threads < 2) return encode_range(0, blocks);
  std::vector<std::exception_ptr> errors(threads);
  std::vector<std::thread> workers;
  for (size_t t = 0; t < threads; ++t)
    workers.emplace_back([&, t] {
      try {
        encode_range(blocks * t / threads, blocks * (t + 1) / threads);
      } catch (...) {
        errors[t] = std::current_exception();
      }
    });
  for (auto& w : workers) w.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

// Calls f with a value of the block struct of `type` (a quantized type with a decoder).
template <typename F>
void with_block(GgmlType type, F f) {
  switch (type) {
    case GgmlType::q4_0: f(BlockQ4_0{}); break;
    case GgmlType::q4_1: f(BlockQ4_1{}); break;
    case GgmlType::q5_0: f(BlockQ5_0{}); break;
    case GgmlType::q5_1: f(BlockQ5_1{}); break;
    case GgmlType::q8_0: f(BlockQ8_0{}); break;
    case GgmlType::q2_k: f(BlockQ2_K{}); break;
    case GgmlType::q3_k: f(BlockQ3_K{}); break;
    case GgmlType::q4_k: f(BlockQ4_K{}); break;
    case GgmlType::q5_k: f(BlockQ5_K{}); break;
    case GgmlType::q6_k: f(BlockQ6_K{}); break;
    case GgmlType::iq4_nl: f(BlockIQ4_NL{}); break;
    case GgmlType::iq4_xs: f(BlockIQ4_XS{}); break;
    case GgmlType::mxfp4: f(BlockMXFP4{}); break;
    default: break;
  }
}

template <typename Block>
constexpr bool kEncodable = requires(const float* x, Block& b) { codec::encode(x, b); };

bool has_decoder(GgmlType type) {
  bool found = false;
  with_block(type, [&](auto) { found = true; });
  return found;
}

bool has_encoder(GgmlType type) {
  bool found = false;
  with_block(type, [&](auto block) { found = kEncodable<decltype(block)>; });
  return found;
}

void check_sizes(const char* op, GgmlType type, size_t values, size_t bytes) {
  const uint64_t need = ggml_row_bytes(type, values);  // throws for a partial block
  if (need != bytes)
    fail("[quant] {}: {} {} values need {} bytes, the buffer has {}", op, values,
         ggml_type_name(type), need, bytes);
}

}  // namespace

GgmlBlock ggml_block(GgmlType type) {
  const TypeInfo* info = find_type(type);
  return info ? info->block : GgmlBlock{};
}

std::string_view ggml_type_name(GgmlType type) {
  const TypeInfo* info = find_type(type);
  return info ? info->name : "unknown";
}

uint64_t ggml_row_bytes(GgmlType type, uint64_t elements) {
  GgmlBlock block = ggml_block(type);
  if (!block.elements) fail("[quant] unknown ggml type {}", uint32_t(type));
  if (elements % block.elements)
    fail("[quant] a {} row of {} values is not a whole number of {}-value blocks",
         ggml_type_name(type), elements, block.elements);
  return elements / block.elements * block.bytes;
}

bool can_dequantize(GgmlType type) {
  return type == GgmlType::f32 || type == GgmlType::f16 || type == GgmlType::bf16 ||
         has_decoder(type);
}

bool can_quantize(GgmlType type) {
  return type == GgmlType::f32 || type == GgmlType::f16 || type == GgmlType::bf16 ||
         has_encoder(type);
}

void dequantize(std::span<float> out, std::span<const std::byte> in, GgmlType type) {
  if (!can_dequantize(type)) fail("[quant] cannot dequantize {} tensors", ggml_type_name(type));
  check_sizes("dequantize", type, out.size(), in.size());
  auto words = [&](auto convert) {
    for (size_t i = 0; i < out.size(); ++i) {
      uint16_t w;
      std::memcpy(&w, in.data() + 2 * i, 2);
      out[i] = convert(w);
    }
  };
  switch (type) {
    case GgmlType::f32:
      if (!out.empty()) std::memcpy(out.data(), in.data(), in.size());
      break;
    case GgmlType::f16: words(f16_to_f32); break;
    case GgmlType::bf16: words(bf16_to_f32); break;
    default:
      with_block(type, [&](auto block) { decode_blocks<decltype(block)>(out, in); });
  }
}

void quantize(std::span<std::byte> out, std::span<const float> in, GgmlType type) {
  if (!can_quantize(type)) fail("[quant] cannot quantize to {}", ggml_type_name(type));
  check_sizes("quantize", type, in.size(), out.size());
  auto words = [&](auto convert) {
    for (size_t i = 0; i < in.size(); ++i) {
      uint16_t w = convert(in[i]);
      std::memcpy(out.data() + 2 * i, &w, 2);
    }
  };
  switch (type) {
    case GgmlType::f32:
      if (!in.empty()) std::memcpy(out.data(), in.data(), out.size());
      break;
    case GgmlType::f16: words(f32_to_f16); break;
    case GgmlType::bf16: words(f32_to_bf16); break;
    default: {
      // A block scale of Inf or NaN would decode the whole block to garbage; refuse up front.
      for (size_t i = 0; i < in.size(); ++i)
        if (!std::isfinite(in[i]))
          fail("[quant] quantize to {}: value {} is {}; only finite values can be quantized",
               ggml_type_name(type), i, in[i]);
      with_block(type, [&](auto block) {
        if constexpr (kEncodable<decltype(block)>) encode_blocks<decltype(block)>(out, in);
      });
    }
  }
}

std::vector<float> dequantize(std::span<const std::byte> in, GgmlType type, uint64_t elements) {
  std::vector<float> out(elements);
  dequantize(out, in, type);
  return out;
}

std::vector<std::byte> quantize(std::span<const float> in, GgmlType type) {
  std::vector<std::byte> out(ggml_row_bytes(type, in.size()));
  quantize(out, in, type);
  return out;
}

namespace codec {

uint16_t half_scale(float scale) {
  const uint16_t h = f32_to_f16(scale);
  if ((h & 0x7C00) == 0x7C00)
    fail("[quant] quantize: a block scale of {} does not fit in f16; values this large cannot "
         "be block-quantized (keep this tensor in f32/bf16)", scale);
  return h;
}

float largest_magnitude(const float* x, int n) {
  float amax = 0, extreme = 0;
  for (int i = 0; i < n; ++i)
    if (std::fabs(x[i]) > amax) amax = std::fabs(x[i]), extreme = x[i];
  return extreme;
}

}  // namespace codec

}  // namespace vktrain::io
