#pragma once
// Renders a parsed template, sandboxed: no I/O, no attribute access beyond dict keys and a fixed
// set of str/dict methods, and bounded: the output and every value built have a size cap, the
// evaluation a step budget and a budget of bytes of values built, scanned or written (so that
// one step cannot hide a linear scan), the nesting of expressions, statements and macro calls a
// depth cap, and range() the cap of jinja2's sandbox. Overruns are TemplateErrors, never crashes.
//
// For the chat layer the interpreter also reports where output came from: every byte written
// while the current item of an enclosing for loop is one of the `tracked` objects (by identity,
// which survives slicing and filtering because lists and dicts are shared, never copied) is
// attributed to that object, and output inside transformers' {% generation %} blocks is listed.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "data/jinja/ast.hpp"

namespace vktrain::data::jinja {

// The bounds of one render. Real templates stay far below them: every Qwen3 and Gemma-3 fixture
// conversation renders in at most 392 steps, nesting 13 levels and touching 3.6 KB
// (JinjaLimits.RealTemplatesStayFarBelowTheLimits keeps them within a small fraction); a long
// conversation grows steps and bytes linearly. At the bounds a render stops within about a
// second (the step budget is ~100,000 loop iterations or ~1,000,000 expressions).
struct Limits {
  size_t max_output_bytes = kMaxValueBytes;         // the output, and any value built
  uint64_t max_steps = 1'000'000;                   // expressions, statements, loop iterations, calls
  uint64_t max_touched_bytes = uint64_t(1) << 30;  // bytes of values built, scanned or written
  int max_call_depth = 64;                          // nested macro calls
  // Nested expressions and statements over all macro calls. A level takes up to ~1 KB of stack
  // in a release build and ~4 KB under AddressSanitizer, so 1000 fit an 8 MB stack twice over.
  int max_depth = 1000;
};

struct RenderResult {
  struct Segment {
    size_t item;  // index into `tracked`
    size_t begin, end;
  };
  std::string text;
  std::vector<Segment> segments;  // in output order; adjacent writes are merged
  std::vector<std::pair<size_t, size_t>> generation_spans;
};

RenderResult render(const Template& tmpl, const std::vector<std::pair<std::string, Value>>& variables,
                    const std::vector<const void*>& tracked = {}, const Limits& limits = {});

}  // namespace vktrain::data::jinja
