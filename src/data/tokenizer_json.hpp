#pragma once
// Reading the parts of a tokenizer.json, shared by the stages that parse their own section.
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace vktrain::data {

// The "type" of one stage entry (a normalizer, pre-tokenizer, decoder or post-processor);
// fails naming `file` and `stage` when there is none.
std::string stage_type(const nlohmann::json& json, const char* stage, const std::string& file);

// The field `key` of `object` by reference, null when absent. json::value() would copy it, and
// the model of a large vocabulary is tens of megabytes.
const nlohmann::json& member(const nlohmann::json& object, const char* key);

}  // namespace vktrain::data
