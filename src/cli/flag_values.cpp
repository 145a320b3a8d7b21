#include "cli/flag_values.hpp"

namespace vktrain::cli {

nlohmann::json flag_values(const CLI::App& command) {
  nlohmann::json values = nlohmann::json::object();
  for (const CLI::Option* option : command.get_options()) {
    if (option->get_lnames().empty()) continue;
    const std::string& name = option->get_lnames().front();
    if (name == "help" || name == "config") continue;
    if (option->get_expected_max() == 0) {  // a switch: --rslora, or --rslora=false from a file
      values[name] = option->count() > 0 && option->as<bool>();
      continue;
    }
    std::string value;
    for (const auto& result : option->results()) value += (value.empty() ? "" : ",") + result;
    if (option->count() == 0) value = option->get_default_str();
    values[name] = option->count() == 0 && value.empty() ? nlohmann::json() : nlohmann::json(value);
  }
  return values;
}

}  // namespace vktrain::cli
