#include "io/quant.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/dtype.hpp"
#include "base/error.hpp"

namespace vktrain::io {
namespace {

constexpr int kSuperBlock = 256;  // ggml's QK_K

// Block structs mirror ggml-common.h field for field. They are filled from and copied to the
// byte stream with memcpy, so unaligned mapped data is fine.
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[32];
};
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[16];
};
struct BlockQ4_K {
  uint16_t d, dmin;
  uint8_t scales[12];  // 8 six-bit scales and 8 six-bit mins, packed (see scale_min)
  uint8_t qs[128];
};
struct BlockQ5_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[32];
  uint8_t qs[128];
};
struct BlockQ6_K {
  uint8_t ql[128];
  uint8_t qh[64];
  int8_t scales[16];
  uint16_t d;
};
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_K) == 144 &&
              sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210);

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

int nearest(float x) { return int(std::lrint(x)); }

// Sub-block j's 6-bit scale and min in a K-quant's 12 packed bytes: bytes 0..3 hold scales 0..3
// in their low 6 bits, bytes 4..7 mins 0..3; for j >= 4 the low 4 bits come from byte j+4 (scale
// in the low nibble, min in the high one) and the top 2 bits from the top of bytes j-4 and j.
void scale_min(int j, const uint8_t* packed, uint8_t& scale, uint8_t& min) {
  if (j < 4) {
    scale = packed[j] & 63;
    min = packed[j + 4] & 63;
  } else {
    scale = uint8_t((packed[j + 4] & 0x0F) | ((packed[j - 4] >> 6) << 4));
    min = uint8_t((packed[j + 4] >> 4) | ((packed[j] >> 6) << 4));
  }
}

void pack_scale_min(int j, uint8_t scale, uint8_t min, uint8_t* packed) {
  if (j < 4) {
    packed[j] = uint8_t((packed[j] & 0xC0) | scale);
    packed[j + 4] = uint8_t((packed[j + 4] & 0xC0) | min);
  } else {
    packed[j + 4] = uint8_t((scale & 0x0F) | ((min & 0x0F) << 4));
    packed[j - 4] = uint8_t((packed[j - 4] & 0x3F) | ((scale >> 4) << 6));
    packed[j] = uint8_t((packed[j] & 0x3F) | ((min >> 4) << 6));
  }
}

template <typename Block, int N, typename Decode>
void decode_blocks(std::span<float> out, std::span<const std::byte> in, Decode decode) {
  Block block;
  for (size_t b = 0; b < out.size() / N; ++b) {
    std::memcpy(&block, in.data() + b * sizeof(Block), sizeof(Block));
    decode(block, out.data() + b * N);
  }
}

template <typename Block, int N, typename Encode>
void encode_blocks(std::span<std::byte> out, std::span<const float> in, Encode encode) {
  Block block;
  for (size_t b = 0; b < in.size() / N; ++b) {
    std::memset(&block, 0, sizeof(Block));
    encode(in.data() + b * N, block);
    std::memcpy(out.data() + b * sizeof(Block), &block, sizeof(Block));
  }
}

void decode_q4_k(const BlockQ4_K& b, float* y) {
  const float d = f16_to_f32(b.d), dmin = f16_to_f32(b.dmin);
  for (int chunk = 0; chunk < 4; ++chunk) {  // 64 values: two sub-blocks share 32 bytes
    uint8_t sc, m;
    scale_min(2 * chunk, b.scales, sc, m);
    const float d1 = d * sc, m1 = dmin * m;
    scale_min(2 * chunk + 1, b.scales, sc, m);
    const float d2 = d * sc, m2 = dmin * m;
    const uint8_t* q = b.qs + 32 * chunk;
    for (int l = 0; l < 32; ++l) y[64 * chunk + l] = d1 * (q[l] & 0x0F) - m1;
    for (int l = 0; l < 32; ++l) y[64 * chunk + 32 + l] = d2 * (q[l] >> 4) - m2;
  }
}

void decode_q5_k(const BlockQ5_K& b, float* y) {
  const float d = f16_to_f32(b.d), dmin = f16_to_f32(b.dmin);
  for (int chunk = 0; chunk < 4; ++chunk) {
    uint8_t sc, m;
    scale_min(2 * chunk, b.scales, sc, m);
    const float d1 = d * sc, m1 = dmin * m;
    scale_min(2 * chunk + 1, b.scales, sc, m);
    const float d2 = d * sc, m2 = dmin * m;
    // qh[l] bit 2*chunk is the fifth bit of the low-nibble value, bit 2*chunk+1 of the high one.
    const uint8_t low_bit = uint8_t(1u << (2 * chunk)), high_bit = uint8_t(2u << (2 * chunk));
    const uint8_t* q = b.qs + 32 * chunk;
    for (int l = 0; l < 32; ++l)
      y[64 * chunk + l] = d1 * ((q[l] & 0x0F) + ((b.qh[l] & low_bit) ? 16 : 0)) - m1;
    for (int l = 0; l < 32; ++l)
      y[64 * chunk + 32 + l] = d2 * ((q[l] >> 4) + ((b.qh[l] & high_bit) ? 16 : 0)) - m2;
  }
}

void decode_q6_k(const BlockQ6_K& b, float* y) {
  const float d = f16_to_f32(b.d);
  for (int half = 0; half < 2; ++half) {  // 128 values from 64 ql bytes and 32 qh bytes
    const uint8_t* ql = b.ql + 64 * half;
    const uint8_t* qh = b.qh + 32 * half;
    const int8_t* sc = b.scales + 8 * half;
    float* out = y + 128 * half;
    for (int l = 0; l < 32; ++l) {
      const int s = l / 16;
      const int q1 = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      out[l] = d * sc[s] * q1;
      out[l + 32] = d * sc[s + 2] * q2;
      out[l + 64] = d * sc[s + 4] * q3;
      out[l + 96] = d * sc[s + 6] * q4;
    }
  }
}

void encode_q8_0(const float* x, BlockQ8_0& b) {
  float amax = 0;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  b.d = f32_to_f16(amax / 127);
  const float d = f16_to_f32(b.d), id = d ? 1 / d : 0;
  for (int j = 0; j < 32; ++j) b.qs[j] = int8_t(std::clamp(nearest(x[j] * id), -127, 127));
}

// As ggml: the value of largest magnitude maps to q = 0 (-8 d), so its sign picks d's sign and
// the other side of zero reaches +7 d.
void encode_q4_0(const float* x, BlockQ4_0& b) {
  float amax = 0, extreme = 0;
  for (int j = 0; j < 32; ++j)
    if (std::fabs(x[j]) > amax) amax = std::fabs(x[j]), extreme = x[j];
  b.d = f32_to_f16(extreme / -8);
  const float d = f16_to_f32(b.d), id = d ? 1 / d : 0;
  for (int j = 0; j < 16; ++j) {
    int low = std::clamp(nearest(x[j] * id) + 8, 0, 15);
    int high = std::clamp(nearest(x[j + 16] * id) + 8, 0, 15);
    b.qs[j] = uint8_t(low | (high << 4));
  }
}

// A sub-block of 32 values as scale * L - min with L in 0..15 and min >= 0 (the format's offset
// only subtracts, so ranges above zero are anchored at zero, as ggml does). Tries step counts
// around 15 over the value range, refits scale and min by least squares for each assignment L,
// and keeps the fit with the smallest squared error.
void fit_scale_min(const float* x, float& scale, float& min) {
  float lo = 0, hi = x[0];
  for (int i = 0; i < 32; ++i) lo = std::min(lo, x[i]), hi = std::max(hi, x[i]);
  scale = (hi - lo) / 15;
  min = -lo;
  if (hi <= lo) return;
  auto error = [&](float s, float m) {
    float e = 0;
    for (int i = 0; i < 32; ++i) {
      int l = std::clamp(nearest((x[i] + m) / s), 0, 15);
      e += (s * l - m - x[i]) * (s * l - m - x[i]);
    }
    return e;
  };
  float best = error(scale, min);
  for (int step = -10; step <= 10; ++step) {
    const float inverse = (15 + 0.1f * step) / (hi - lo);
    double sum_l = 0, sum_l2 = 0, sum_x = 0, sum_lx = 0;
    for (int i = 0; i < 32; ++i) {
      const int l = std::clamp(nearest((x[i] - lo) * inverse), 0, 15);
      sum_l += l, sum_l2 += l * l, sum_x += x[i], sum_lx += l * x[i];
    }
    const double det = 32 * sum_l2 - sum_l * sum_l;
    if (det <= 0) continue;
    double s = (32 * sum_lx - sum_l * sum_x) / det;
    double offset = (sum_x - s * sum_l) / 32;  // x ~ s * l + offset
    if (offset > 0) offset = 0, s = sum_lx / sum_l2;
    if (s <= 0) continue;
    const float e = error(float(s), float(-offset));
    if (e < best) best = e, scale = float(s), min = float(-offset);
  }
}

void encode_q4_k(const float* x, BlockQ4_K& b) {
  float scales[8], mins[8], max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    fit_scale_min(x + 32 * j, scales[j], mins[j]);
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  b.d = f32_to_f16(max_scale / 63);
  b.dmin = f32_to_f16(max_min / 63);
  const float d = f16_to_f32(b.d), dmin = f16_to_f32(b.dmin);
  uint8_t levels[kSuperBlock];
  for (int j = 0; j < 8; ++j) {
    const auto sc = uint8_t(d > 0 ? std::clamp(nearest(scales[j] / d), 0, 63) : 0);
    const auto m = uint8_t(dmin > 0 ? std::clamp(nearest(mins[j] / dmin), 0, 63) : 0);
    pack_scale_min(j, sc, m, b.scales);
    // Round against the scale and min exactly as the decoder forms them.
    const float step = d * sc, offset = dmin * m;
    for (int i = 0; i < 32; ++i)
      levels[32 * j + i] =
          uint8_t(step > 0 ? std::clamp(nearest((x[32 * j + i] + offset) / step), 0, 15) : 0);
  }
  for (int chunk = 0; chunk < 4; ++chunk)
    for (int l = 0; l < 32; ++l)
      b.qs[32 * chunk + l] =
          uint8_t(levels[64 * chunk + l] | (levels[64 * chunk + 32 + l] << 4));
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
  switch (type) {
    case GgmlType::f32: case GgmlType::f16: case GgmlType::bf16: case GgmlType::q8_0:
    case GgmlType::q4_0: case GgmlType::q4_k: case GgmlType::q5_k: case GgmlType::q6_k:
      return true;
    default:
      return false;
  }
}

bool can_quantize(GgmlType type) {
  switch (type) {
    case GgmlType::f32: case GgmlType::f16: case GgmlType::bf16: case GgmlType::q8_0:
    case GgmlType::q4_0: case GgmlType::q4_k:
      return true;
    default:
      return false;
  }
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
    case GgmlType::q8_0:
      decode_blocks<BlockQ8_0, 32>(out, in, [](const BlockQ8_0& b, float* y) {
        const float d = f16_to_f32(b.d);
        for (int j = 0; j < 32; ++j) y[j] = b.qs[j] * d;
      });
      break;
    case GgmlType::q4_0:
      decode_blocks<BlockQ4_0, 32>(out, in, [](const BlockQ4_0& b, float* y) {
        const float d = f16_to_f32(b.d);
        for (int j = 0; j < 16; ++j) {
          y[j] = ((b.qs[j] & 0x0F) - 8) * d;
          y[j + 16] = ((b.qs[j] >> 4) - 8) * d;
        }
      });
      break;
    case GgmlType::q4_k: decode_blocks<BlockQ4_K, kSuperBlock>(out, in, decode_q4_k); break;
    case GgmlType::q5_k: decode_blocks<BlockQ5_K, kSuperBlock>(out, in, decode_q5_k); break;
    case GgmlType::q6_k: decode_blocks<BlockQ6_K, kSuperBlock>(out, in, decode_q6_k); break;
    default: break;
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
    case GgmlType::q8_0: encode_blocks<BlockQ8_0, 32>(out, in, encode_q8_0); break;
    case GgmlType::q4_0: encode_blocks<BlockQ4_0, 32>(out, in, encode_q4_0); break;
    case GgmlType::q4_k: encode_blocks<BlockQ4_K, kSuperBlock>(out, in, encode_q4_k); break;
    default: break;
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

}  // namespace vktrain::io
