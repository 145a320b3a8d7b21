// Masks of the tiled attention kernels (portable and cooperative-matrix): which keys a query
// sees (causal, sliding window, document ids; attention_push.h) and which tiles can be skipped.
// Include after `pc` and after defining BR and BC (rows of the own and of a visited tile),
// THREADS (the workgroup size) and thread_id().

shared int own_doc[BR];
shared int visit_doc[BC];

float negative_infinity() { return uintBitsToFloat(0xff800000u); }

// Key j is visible from query i (positions in one sequence, both < T), documents aside.
bool visible(uint i, uint j) {
  if (pc.causal != 0 && j > i) return false;
  if (pc.window != 0) {
    if (i >= j + pc.window) return false;
    if (pc.causal == 0 && j >= i + pc.window) return false;
  }
  return true;
}

// The keys [x, y) that queries [q0, q1) may see, and the queries that keys [k0, k1) are seen by.
uvec2 key_range(uint q0, uint q1) {
  uvec2 r = uvec2(0, pc.T);
  if (pc.causal != 0) r.y = min(r.y, q1);
  if (pc.window != 0) {
    r.x = q0 + 1 > pc.window ? q0 + 1 - pc.window : 0;
    if (pc.causal == 0) r.y = min(r.y, q1 - 1 + pc.window);
  }
  return r;
}

uvec2 query_range(uint k0, uint k1) {
  uvec2 r = uvec2(0, pc.T);
  if (pc.causal != 0) r.x = k0;
  if (pc.window != 0) {
    r.y = min(r.y, k1 - 1 + pc.window);
    if (pc.causal == 0) r.x = max(r.x, k0 + 1 > pc.window ? k0 + 1 - pc.window : 0);
  }
  return r;
}

// Document ids of rows [first, first + BR or BC) of this batch row into own_doc / visit_doc
// (rows past T get 0 and are never looked at). Callers barrier afterwards.
void load_docs(bool own, uint batch, uint first) {
  if (pc.documents == 0) return;
  BufU32 docs = BufU32(pc.documents + uint64_t(batch) * pc.T * 4);
  uint count = own ? BR : BC;
  for (uint i = thread_id(); i < count; i += THREADS) {
    int id = first + i < pc.T ? int(docs.v[first + i]) : 0;
    if (own) own_doc[i] = id; else visit_doc[i] = id;
  }
}

// Whether any visited row may share a document with an own row: its id lies within the own
// tile's [lo, hi]. Conservative (it only skips work), uniform across the workgroup.
bool documents_meet(ivec2 own_span, uint visit_rows) {
  if (pc.documents == 0) return true;
  for (uint i = 0; i < visit_rows; ++i)
    if (visit_doc[i] >= own_span.x && visit_doc[i] <= own_span.y) return true;
  return false;
}

ivec2 own_doc_span(uint own_rows) {
  ivec2 s = ivec2(0x7fffffff, -0x7fffffff);
  if (pc.documents == 0) return s;
  for (uint i = 0; i < own_rows; ++i) s = ivec2(min(s.x, own_doc[i]), max(s.y, own_doc[i]));
  return s;
}

// Whether every query of [q0, q0 + queries) sees every key of [k0, k0 + keys) (all < T): no
// document ids, and the tile lies inside the causal and window bounds. Lets a tile skip the
// per-element masks.
bool tile_all_visible(uint q0, uint queries, uint k0, uint keys) {
  if (pc.documents != 0) return false;
  int first_q = int(q0), last_q = int(q0 + queries) - 1, first_k = int(k0),
      last_k = int(k0 + keys) - 1;
  if (pc.causal != 0 && last_k > first_q) return false;
  if (pc.window != 0) {
    if (last_q - first_k >= int(pc.window)) return false;
    if (pc.causal == 0 && last_k - first_q >= int(pc.window)) return false;
  }
  return true;
}

bool same_document(uint own, uint visit) {
  return pc.documents == 0 || own_doc[own] == visit_doc[visit];
}
