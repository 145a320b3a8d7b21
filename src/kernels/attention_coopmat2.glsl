// Shared by the attention kernels on GL_NV_cooperative_matrix2 (FlashAttention-2 on
// workgroup-scope matrices of ELEM, f16 or bf16 as the kernel's IN_F16 / IN_BF16 says, into f32
// accumulators). A workgroup owns BR rows of one head and visits tiles of BC rows of the other
// side; every operand tile is one matrix loaded straight from memory through a tensor layout
// (the compiler stages it), head_dim padded to DP, a multiple of 16: the layouts clamp, so
// columns past D and rows past T load as zero and stores there are dropped. A head's rows are
// the tensor's rows [B, T, H, D] of one (batch, head): a layout of T x D with a row stride of
// H D elements, addressed from the head's first element.
// Interior tiles (all rows below T, D a multiple of 16, 16-byte aligned tensors as the op
// checks) load through unclamped layouts over 16-byte aligned references instead, which lets
// the compiler issue wide asynchronous copies (as matmul_coopmat2.comp's aligned path).
// Element-wise work (scale, masks, softmax) runs on the accumulators' elements in registers:
// matrices of one type share one element order, and the masks, which need each element's row
// and column, go through coopMatPerElementNV. Row maxima and sums come from coopMatReduceNV,
// whose row reduction also smears a per-row value over a matrix of another width (the O
// accumulators' rescale).
// Include after the kernel's `pc` block. Specialization constants 0-3 here, the kernel's own
// from 4.
#extension GL_NV_cooperative_matrix2 : require
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_control_flow_attributes : require
#if defined(IN_BF16)
#extension GL_EXT_bfloat16 : require
#define ELEM bfloat16_t
#else
#define ELEM float16_t
#endif

layout(constant_id = 0) const uint D = 128;  // head_dim
layout(constant_id = 1) const uint BR = 64;  // rows of the own tile
layout(constant_id = 2) const uint BC = 64;  // rows of a visited tile
layout(local_size_x_id = 3) in;              // THREADS

const uint DP = (D + 15) / 16 * 16;  // head_dim as the matrices hold it
const float LOG2E = 1.4426950408889634;
const float LN2 = 0.6931471805599453;

layout(buffer_reference, std430, buffer_reference_align = 2) buffer BufElem { ELEM v[]; };
layout(buffer_reference, std430, buffer_reference_align = 16) buffer BufElemAligned { ELEM v[]; };

#define SCORES coopmat<float, gl_ScopeWorkgroup, BR, BC, gl_MatrixUseAccumulator>
#define ROWS_ACC coopmat<float, gl_ScopeWorkgroup, BR, DP, gl_MatrixUseAccumulator>
#define CLAMPED tensorLayoutNV<2, gl_CooperativeMatrixClampModeConstantNV>

// The threads of the workgroup, for attention_mask.glsl's loops.
const uint THREADS = gl_WorkGroupSize.x;
uint thread_id() { return gl_LocalInvocationID.x; }
#include "attention_mask.glsl"

// The first element of head `head` of batch row `batch` in a [B, T, heads, D] tensor.
uint head_start(uint batch, uint head, uint heads) {
  return (batch * pc.T * heads + head) * D;
}

// Whether the visited tile at row `first` lies wholly below T and needs no clamping: then it
// may load through the aligned layouts.
bool interior(uint first, uint rows) { return D == DP && first + rows <= pc.T; }

float max_of(const in float a, const in float b) { return max(a, b); }
float sum_of(const in float a, const in float b) { return a + b; }

// Score (r, c) of a tile of queries from q0 (rows) and keys from k0 (columns): scaled by `scale`
// where key k0 + c is visible from query q0 + r, else -inf. Document ids come from
// attention_mask.glsl's own_doc (queries) and visit_doc (keys), by tile row and column.
float mask_score(const in uint r, const in uint c, const in float s, const in uint q0,
                 const in uint k0, const in float scale) {
  const uint i = q0 + r, j = k0 + c;
  const bool keep = i < pc.T && j < pc.T && visible(i, j) && same_document(r, c);
  return keep ? s * scale : negative_infinity();
}
