#include "cli/config_file.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <sstream>

namespace vktrain::cli {

namespace {

std::string flag_name(std::string key) {
  std::replace(key.begin(), key.end(), '_', '-');
  return key;
}

}  // namespace

std::string RunConfigFile::to_config(const CLI::App*, bool, bool, std::string) const {
  throw CLI::ConfigError("vktrain does not write config files");
}

std::vector<CLI::ConfigItem> RunConfigFile::from_config(std::istream& input) const {
  std::stringstream text;
  text << input.rdbuf();
  YAML::Node root;
  try {
    root = YAML::Load(text.str());
  } catch (const YAML::Exception& e) {
    throw CLI::ConfigError(std::string("the config file is not valid YAML or JSON: ") + e.what());
  }
  std::vector<CLI::ConfigItem> items;
  if (root.IsNull()) return items;
  if (!root.IsMap())
    throw CLI::ConfigError("the config file must hold a mapping of flag names to values");
  for (const auto& entry : root) {
    CLI::ConfigItem item;
    item.name = flag_name(entry.first.as<std::string>());
    const YAML::Node& value = entry.second;
    if (value.IsSequence()) {
      for (const auto& element : value) {
        if (!element.IsScalar())
          throw CLI::ConfigError("config key '" + item.name + "': list items must be plain values");
        item.inputs.push_back(element.as<std::string>());
      }
    } else if (value.IsScalar()) {
      item.inputs.push_back(value.as<std::string>());
    } else {
      throw CLI::ConfigError("config key '" + item.name + "' must be a value or a list of values");
    }
    items.push_back(std::move(item));
  }
  return items;
}

void add_config_option(CLI::App& command) {
  command.config_formatter(std::make_shared<RunConfigFile>());
  command.set_config("--config", "", "a YAML or JSON file holding any of these flags as keys");
  command.allow_config_extras(false);
}

}  // namespace vktrain::cli
