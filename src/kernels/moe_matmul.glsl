// Shared by the moe_matmul kernels: which expert's which tile of rows workgroup row `tile` is,
// in the default (ROWS) mode, among experts [first, first + experts). Each expert's
// ceil(rows / bm) tiles are counted in order, so the op dispatches an upper bound
// (ceil(S / bm) + experts rows of workgroups) and needs no host round trip.
// Offsets are clamped to the `rows` grouped rows (pc.M), so a corrupt buffer cannot send reads
// or writes outside. Returns false past every expert's tiles; otherwise the expert `e` and its
// tile's rows [m0, min(m0 + bm, m_end)). Uniform over the workgroup.
bool moe_row_tile(uint64_t offsets_address, uint first, uint experts, uint rows, uint bm,
                  uint tile, out uint e, out uint m0, out uint m_end) {
  BufU32 offsets = BufU32(offsets_address);
  uint seen = 0, lo = 0, hi = 0;
  for (e = first; e < first + experts; ++e) {
    lo = min(offsets.v[e], rows);
    hi = clamp(offsets.v[e + 1], lo, rows);
    uint tiles = (hi - lo + bm - 1) / bm;
    if (tile < seen + tiles) break;
    seen += tiles;
  }
  m0 = lo + (tile - seen) * bm;
  m_end = hi;
  return e < first + experts;
}

// Expert e's rows [first, first + count) of the `rows` grouped rows (the weight gradient's
// reduction), its offsets clamped as above.
void moe_expert_rows(uint64_t offsets_address, uint e, uint rows, out uint first, out uint count) {
  BufU32 offsets = BufU32(offsets_address);
  first = min(offsets.v[e], rows);
  count = clamp(offsets.v[e + 1], first, rows) - first;
}
