#pragma once
// jinja2's filters and tests, transformers' tojson, and the Python str and dict methods that
// chat templates call (message.content.split('</think>'), message.get('x'), tool.items()).
// Each follows the Python original it names; all are pure functions of their inputs.
#include <string>

#include "data/jinja/value.hpp"

namespace vktrain::data::jinja {

bool is_known_filter(const std::string& name);
bool is_known_test(const std::string& name);

Value apply_filter(const std::string& name, const Value& input, const Args& args);
bool apply_test(const std::string& name, const Value& input, const Args& args);
Value call_method(const Value& object, const std::string& name, const Args& args);

}  // namespace vktrain::data::jinja
