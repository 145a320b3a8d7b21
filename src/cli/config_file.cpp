#include "cli/config_file.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include "base/error.hpp"

namespace vktrain::cli {

namespace {

std::string flag_name(std::string key) {
  std::replace(key.begin(), key.end(), '_', '-');
  return "--" + key;
}

std::string value_of(const std::string& path, const std::string& key, const YAML::Node& value) {
  if (value.IsScalar()) return value.as<std::string>();
  if (!value.IsSequence())
    fail("[config] {}: key '{}' must be a value or a list of values", path, key);
  std::string joined;
  for (const auto& element : value) {
    if (!element.IsScalar()) fail("[config] {}: key '{}' must list plain values", path, key);
    joined += (joined.empty() ? "" : ",") + element.as<std::string>();
  }
  return joined;
}

// The file's flags, leaving out those the command line gives itself.
std::vector<std::string> flags_of(const std::string& path, const std::set<std::string>& given,
                                  ConfigOrigins* origins) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    fail("[config] cannot read {}", path);
  } catch (const YAML::Exception& e) {
    fail("[config] {}: not valid YAML or JSON: {}", path, e.what());
  }
  std::vector<std::string> flags;
  if (root.IsNull()) return flags;
  if (!root.IsMap()) fail("[config] {}: must hold a mapping of flag names to values", path);
  for (const auto& entry : root) {
    if (!entry.first.IsScalar())
      fail("[config] {}: a key is a {}, not a flag name", path,
           entry.first.IsMap() ? "mapping" : "list");
    const std::string key = entry.first.as<std::string>(), flag = flag_name(key);
    if (given.count(flag)) continue;
    flags.push_back(flag + "=" + value_of(path, key, entry.second));
    if (origins) (*origins)[flag] = {path, key};
  }
  return flags;
}

}  // namespace

void add_config_option(CLI::App& command) {
  command.add_option("--config", "a YAML or JSON file holding any of these flags as keys");
}

std::vector<std::string> expand_config_files(int argc, char** argv, ConfigOrigins* origins) {
  std::vector<std::string> in(argv, argv + argc), out;
  std::set<std::string> given;
  for (const auto& arg : in)
    if (arg.starts_with("--")) given.insert(arg.substr(0, arg.find('=')));
  for (size_t i = 0; i < in.size(); ++i) {
    std::string path;
    if (in[i] == "--config") {
      if (i + 1 == in.size()) fail("[config] --config needs a file");
      path = in[++i];
    } else if (in[i].starts_with("--config=")) {
      path = in[i].substr(9);
    } else {
      out.push_back(in[i]);
      continue;
    }
    for (auto& flag : flags_of(path, given, origins)) out.push_back(std::move(flag));
  }
  return out;
}

}  // namespace vktrain::cli
