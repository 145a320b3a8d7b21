#include "cli/suggest.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace vktrain::cli {
namespace {

constexpr size_t kMaxDistance = 2, kMaxShown = 4;

std::string joined(const std::vector<std::string>& names, const std::string& prefix) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i)
    out += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + prefix + names[i];
  return out;
}

// The long and short names of a command's flags, without dashes, in the order they were added.
std::vector<std::string> flag_names(const CLI::App& command) {
  std::vector<std::string> names;
  for (const CLI::Option* option : command.get_options()) {
    for (const auto& name : option->get_lnames()) names.push_back(name);
    for (const auto& name : option->get_snames()) names.push_back(name);
  }
  return names;
}

std::string help_of(const CLI::App& command) {
  return command.get_parent() ? fmt::format(" (see vktrain {} --help)", command.get_name())
                              : " (see vktrain --help)";
}

// The error for the arguments `command` did not take.
std::string extras_error(const CLI::App& command, const std::vector<std::string>& extras,
                         const ConfigOrigins& origins) {
  const bool root = command.get_parent() == nullptr;
  auto is_flag = [](const std::string& a) { return a.size() > 1 && a[0] == '-'; };
  auto word = std::find_if_not(extras.begin(), extras.end(), is_flag);
  // No command took the arguments: the word among them was meant as one (`vktrain trian ...`).
  if (root && word != extras.end() && command.get_subcommands().empty()) {
    std::vector<std::string> commands;
    for (const CLI::App* sub : command.get_subcommands([](const CLI::App*) { return true; }))
      commands.push_back(sub->get_name());
    // The first word near a command, else the first word (`vktrain --model m trian`).
    auto near = std::find_if(word, extras.end(), [&](const std::string& a) {
      return !is_flag(a) && !nearest_names(a, commands).empty();
    });
    if (near != extras.end()) word = near;
    return fmt::format("unknown command '{}'{}{}", *word, did_you_mean(*word, commands),
                       help_of(command));
  }
  auto flag = std::find_if(extras.begin(), extras.end(), is_flag);
  const std::string where = root ? "" : fmt::format("[{}] ", command.get_name());
  if (flag == extras.end())
    return fmt::format("{}unexpected argument '{}': flags are written --name value{}", where,
                       extras.front(), help_of(command));
  const std::string name = flag->substr(0, flag->find('=')),
                    bare = name.substr(name.find_first_not_of('-'));
  if (auto origin = origins.find(name); origin != origins.end()) {
    // Suggest keys in the spelling the file uses.
    std::vector<std::string> keys = flag_names(command);
    if (origin->second.key.find('_') != std::string::npos)
      for (auto& key : keys) std::replace(key.begin(), key.end(), '-', '_');
    return fmt::format("[config] {}: unknown key '{}'{}{}", origin->second.path, origin->second.key,
                       did_you_mean(origin->second.key, keys), help_of(command));
  }
  return fmt::format("{}unknown flag {}{}{}", where, name,
                     did_you_mean(bare, flag_names(command), name.starts_with("--") ? "--" : "-"),
                     help_of(command));
}

}  // namespace

size_t edit_distance(const std::string& a, const std::string& b) {
  // d[i][j]: distance between the first i characters of a and the first j of b.
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1,
                          d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

std::vector<std::string> nearest_names(const std::string& word,
                                       const std::vector<std::string>& candidates) {
  std::vector<std::string> near;
  // Words are flag names: a longer one is not a typo of anything we know, and its distances
  // would cost time for nothing.
  if (word.empty() || word.size() > 64) return near;
  size_t best = std::min(kMaxDistance, word.size() - 1);
  for (const auto& c : candidates) {
    size_t distance = edit_distance(word, c);
    if (distance > best || c == word) continue;
    if (distance < best) near.clear(), best = distance;
    if (std::find(near.begin(), near.end(), c) == near.end()) near.push_back(c);
  }
  if (near.empty() && word.size() >= 2)
    for (const auto& c : candidates)
      if (c.size() > word.size() && c.starts_with(word) &&
          std::find(near.begin(), near.end(), c) == near.end())
        near.push_back(c);
  if (near.size() > kMaxShown) near.resize(kMaxShown);
  return near;
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates,
                         const std::string& prefix) {
  std::vector<std::string> near = nearest_names(word, candidates);
  return near.empty() ? "" : fmt::format("; did you mean {}?", joined(near, prefix));
}

std::optional<std::string> unknown_argument_error(const CLI::App& app,
                                                  const ConfigOrigins& origins) {
  if (auto extras = app.remaining(false); !extras.empty())
    return extras_error(app, extras, origins);
  for (const CLI::App* command : app.get_subcommands())
    if (auto extras = command->remaining(false); !extras.empty())
      return extras_error(*command, extras, origins);
  return std::nullopt;
}

}  // namespace vktrain::cli
