#pragma once
// Renders a parsed template, sandboxed: no I/O, no attribute access beyond dict keys and a fixed
// set of str/dict methods, and bounded work: the output (and every string built on the way) has
// a size cap, loop iterations plus macro calls have a budget, macro recursion has a depth cap,
// and range() is capped as jinja2's sandbox caps it. Overruns are TemplateErrors, never crashes.
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

struct Limits {
  size_t max_output_bytes = size_t(64) << 20;  // also the cap on any string built
  uint64_t max_steps = 10'000'000;             // loop iterations + macro calls
  int max_call_depth = 64;                     // nested macro calls
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
