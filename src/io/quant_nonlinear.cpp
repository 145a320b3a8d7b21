// The 4-bit types whose codes index a fixed non-uniform table: IQ4_NL, IQ4_XS and MXFP4.
// Decoded only, as ggml's dequantize_row_* computes them, so that a GGUF file holding them loads
// (dequantized to the run's dtype, except MXFP4, which a device tensor may hold as it is:
// kernels/quant.glsl decodes it to these floats); vktrain never writes them.
#include "base/dtype.hpp"
#include "io/quant_codecs.hpp"

namespace vktrain::io::codec {
namespace {

// The format's grids: IQ4_NL's non-linear levels, and MXFP4's E2M1 values times 2 (the
// halved E8M0 scale makes up for it).
constexpr int8_t kIq4Grid[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                 1,    13,   25,  38,  53,  69,  89,  113};
constexpr int8_t kFp4Grid[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

// 32 values from 16 bytes of 4-bit table indices laid out as Q4_0's codes.
void decode_table(const uint8_t* qs, const int8_t* grid, float d, float* y) {
  for (int j = 0; j < 16; ++j) {
    y[j] = d * grid[qs[j] & 0x0F];
    y[j + 16] = d * grid[qs[j] >> 4];
  }
}

}  // namespace

void decode(const BlockIQ4_NL& b, float* y) { decode_table(b.qs, kIq4Grid, f16_to_f32(b.d), y); }

void decode(const BlockIQ4_XS& b, float* y) {
  const float d = f16_to_f32(b.d);
  for (int j = 0; j < 8; ++j) {
    const int scale =
        ((b.scales_l[j / 2] >> (4 * (j % 2))) & 0x0F) | (((b.scales_h >> (2 * j)) & 3) << 4);
    decode_table(b.qs + 16 * j, kIq4Grid, d * (scale - 32), y + 32 * j);
  }
}

// MXFP4's values are fp4 * 2^(e - 127) / 2: the table holds twice the E2M1 values.
void decode(const BlockMXFP4& b, float* y) {
  const uint32_t bits = b.e < 2 ? 0x00200000u << b.e : uint32_t(b.e - 1) << 23;
  decode_table(b.qs, kFp4Grid, std::bit_cast<float>(bits), y);
}

}  // namespace vktrain::io::codec
