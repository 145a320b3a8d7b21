#pragma once
// What the attention tests share (attention_test.cpp, attention_sinks_test.cpp): random inputs,
// the op run on the device from host vectors, checked against the plain reference
// (tests/reference/attention.hpp: its AttentionShape describes a case, its tolerances bound each
// variant).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "ops/attention.hpp"
#include "ops/dispatch.hpp"
#include "reference/attention.hpp"
#include "support/support.hpp"

namespace vktrain::test {

using ops::AttentionVariant;
using reference::AttentionShape;
using reference::coopmat_tolerances;
using reference::portable_tolerances;
using reference::Tolerances;

inline std::vector<int64_t> q_shape(const AttentionShape& s) { return {s.B, s.T, s.Hq, s.D}; }
inline std::vector<int64_t> kv_shape(const AttentionShape& s) { return {s.B, s.T, s.Hkv, s.D}; }

struct Inputs {
  std::vector<float> q, k, v;
};

inline Inputs random_inputs(const AttentionShape& s, DType dt, uint32_t seed) {
  size_t nq = size_t(s.B) * s.T * s.Hq * s.D, nkv = size_t(s.B) * s.T * s.Hkv * s.D;
  return {random_values(nq, seed, dt), random_values(nkv, seed + 1, dt),
          random_values(nkv, seed + 2, dt)};
}

// The inputs on the device, with o and lse for the forward to fill; the shape's documents and
// sinks where it has them.
struct DeviceInputs {
  Tensor q, k, v, o, lse, documents, sinks;
  ops::AttentionOptions options;

  DeviceInputs(const AttentionShape& s, DType dt, const Inputs& in, AttentionVariant variant,
               uint32_t kv_parts = 0, ops::CoopmatTile tile = {})
      : q(tensor_with(q_shape(s), dt, in.q, "q")),
        k(tensor_with(kv_shape(s), dt, in.k, "k")),
        v(tensor_with(kv_shape(s), dt, in.v, "v")),
        o(make_tensor(context(), dt, q_shape(s), "o")),
        lse(make_tensor(context(), DType::f32, {s.B, s.Hq, s.T}, "lse")) {
    options.causal = s.causal;
    options.window = s.window;
    options.scale = float(s.scale);
    options.variant = variant;
    options.kv_parts = kv_parts;
    options.coopmat_tile = tile;
    if (!s.documents.empty()) {
      documents = make_tensor(context(), DType::i32, {s.B, s.T}, "documents");
      write_ints(context(), documents, s.documents);
      options.documents = &documents;
    }
    if (!s.sinks.empty()) {
      sinks = tensor_with({s.Hq}, DType::f32, s.sinks, "sinks");
      options.sinks = &sinks;
    }
  }
};

struct Forward {
  std::vector<float> o, lse;
};

inline Forward run_forward(const AttentionShape& s, DType dt, const Inputs& in,
                           AttentionVariant variant = AttentionVariant::portable,
                           ops::CoopmatTile tile = {}) {
  auto& ctx = context();
  DeviceInputs x(s, dt, in, variant, 0, tile);
  vk::Recorder rec(ctx);
  ops::attention_forward(rec, x.o, x.lse, x.q, x.k, x.v, x.options);
  rec.run();
  return {read_floats(ctx, x.o), read_floats(ctx, x.lse)};
}

// dsinks only where the shape has sinks.
struct Gradients {
  std::vector<float> dq, dk, dv, dsinks;
};

// Forward, then backward for dout into gradients that start at `start` (not set when its vectors
// are empty: then the backward writes them), added into or written as `store` says (dsinks as
// `sinks_store` says where given).
inline Gradients run_backward(const AttentionShape& s, DType dt, const Inputs& in,
                              const std::vector<float>& dout_values, const Gradients& start = {},
                              ops::GradientStore store = ops::GradientStore::write,
                              AttentionVariant variant = AttentionVariant::portable,
                              uint32_t kv_parts = 0, ops::CoopmatTile tile = {},
                              std::optional<ops::GradientStore> sinks_store = std::nullopt) {
  auto& ctx = context();
  DeviceInputs x(s, dt, in, variant, kv_parts, tile);
  Tensor dout = tensor_with(q_shape(s), dt, dout_values, "dout");
  auto grad = [&](const std::vector<int64_t>& shape, DType type, const std::vector<float>& values,
                  const char* name) {
    return values.empty() ? make_tensor(ctx, type, shape, name)
                          : tensor_with(shape, type, values, name);
  };
  Tensor dq = grad(q_shape(s), dt, start.dq, "dq"), dk = grad(kv_shape(s), dt, start.dk, "dk"),
         dv = grad(kv_shape(s), dt, start.dv, "dv");
  Tensor dsinks;
  if (!s.sinks.empty()) dsinks = grad({s.Hq}, DType::f32, start.dsinks, "dsinks");
  vk::Recorder rec(ctx);
  ops::attention_forward(rec, x.o, x.lse, x.q, x.k, x.v, x.options);
  ops::attention_backward(rec, dq, dk, dv, dout, x.q, x.k, x.v, x.o, x.lse, x.options, store,
                          s.sinks.empty() ? nullptr : &dsinks, sinks_store);
  rec.run();
  Gradients got{read_floats(ctx, dq), read_floats(ctx, dk), read_floats(ctx, dv), {}};
  if (!s.sinks.empty()) got.dsinks = read_floats(ctx, dsinks);
  return got;
}

inline std::vector<double> plus(const std::vector<float>& start, const std::vector<double>& delta) {
  std::vector<double> sum(delta);
  for (size_t i = 0; i < sum.size(); ++i) sum[i] += start[i];
  return sum;
}

// The errors against the reference, as checked; returned for the coopmat cases to print.
inline std::vector<double> check_forward(const AttentionShape& s, DType dt,
                                         AttentionVariant variant, const Tolerances& tolerances,
                                         ops::CoopmatTile tile = {}) {
  Inputs in = random_inputs(s, dt, 11);
  Forward got = run_forward(s, dt, in, variant, tile);
  std::vector<double> o, lse;
  reference::attention_forward(o, lse, in.q, in.k, in.v, s);
  std::vector<double> errors = {relative_error(got.o, o), relative_error(got.lse, lse)};
  EXPECT_LT(errors[0], tolerances.o);
  EXPECT_LT(errors[1], tolerances.lse);
  return errors;
}

// The backward adding into random gradients, and writing over random gradients; returns the
// errors of the first (dq, dk, dv, and dsinks where the shape has sinks).
inline std::vector<double> check_backward(const AttentionShape& s, DType dt,
                                          AttentionVariant variant, const Tolerances& tolerances,
                                          uint32_t kv_parts = 0, ops::CoopmatTile tile = {}) {
  Inputs in = random_inputs(s, dt, 21);
  auto dout = random_values(in.q.size(), 24, dt);
  Gradients start{random_values(in.q.size(), 25, dt), random_values(in.k.size(), 26, dt),
                  random_values(in.k.size(), 27, dt), random_values(s.sinks.size(), 28)};
  std::vector<double> dq, dk, dv, dsinks;
  reference::attention_backward(dq, dk, dv, dsinks, dout, in.q, in.k, in.v, s);
  std::vector<double> errors;
  for (ops::GradientStore store : {ops::GradientStore::add, ops::GradientStore::write}) {
    SCOPED_TRACE(store == ops::GradientStore::add ? "add" : "write");
    Gradients got = run_backward(s, dt, in, dout, start, store, variant, kv_parts, tile);
    bool adds = store == ops::GradientStore::add;
    std::vector<double> e = {relative_error(got.dq, adds ? plus(start.dq, dq) : dq),
                             relative_error(got.dk, adds ? plus(start.dk, dk) : dk),
                             relative_error(got.dv, adds ? plus(start.dv, dv) : dv)};
    if (!s.sinks.empty())
      e.push_back(relative_error(got.dsinks, adds ? plus(start.dsinks, dsinks) : dsinks));
    for (double x : e) EXPECT_LT(x, tolerances.gradients);
    if (adds) errors = e;
  }
  return errors;
}

// The shape with every batch row packed from documents of these lengths (summing to T).
inline AttentionShape with_documents(AttentionShape s, const std::vector<uint32_t>& lengths) {
  for (uint32_t b = 0; b < s.B; ++b)
    for (size_t d = 0; d < lengths.size(); ++d)
      s.documents.resize(s.documents.size() + lengths[d], int32_t(5 * b + d));
  return s;
}

// The shape with a sink per query head (gpt-oss): seeded values of alternating signs, never
// zero, up to 3 in size: above most of the tests' scores (|scale q . k| mostly below 1), so a
// sink often holds a row's maximum, and below others.
inline AttentionShape with_sinks(AttentionShape s, uint32_t seed = 61) {
  s.sinks = random_values(s.Hq, seed, DType::f32, 3.0f);
  for (uint32_t h = 0; h < s.Hq; ++h) s.sinks[h] = (h % 2 ? -1.0f : 1.0f) * std::abs(s.sinks[h]);
  return s;
}

}  // namespace vktrain::test
