#pragma once
// How a backward op stores an activation gradient it produces. llm.c's convention (callers zero
// every gradient once, every op adds into it) costs a fill per buffer and a read of the zeros by
// the op that adds; the first op that produces a buffer writes it instead (bench/RESULTS.md).
// Parameter gradients always add: they sum over micro-batches.
namespace vktrain::ops {

enum class GradientStore {
  add,    // dx += the op's term: dx holds a sum of terms, or zeros
  write,  // dx = the op's term; dx's old content is never read (it may be anything, NaN too)
};

// The matmul beta that stores a product so: 1 adds into C, 0 writes C without reading it.
constexpr float matmul_beta(GradientStore store) {
  return store == GradientStore::add ? 1.0f : 0.0f;
}

}  // namespace vktrain::ops
