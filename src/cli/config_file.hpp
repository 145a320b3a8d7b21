#pragma once
// `--config run.yaml|json` for vktrain's commands: a file holding the same keys as the command's
// flags (`lora-rank: 16`, `lora_rank: 16` or {"lora_rank": 16}), parsed with yaml-cpp (YAML 1.2,
// so a JSON object reads too). The file's keys become flags placed before the command line's own,
// and a flag given on the command line wins over the file's key. An unknown key is an unknown flag:
// one error naming the file, the key and the nearest known keys.
#include <CLI/CLI.hpp>

#include <map>
#include <string>
#include <vector>

namespace vktrain::cli {

// Adds --config to `command` (for --help; expand_config_files does the work).
void add_config_option(CLI::App& command);

// Where a flag made from a config file came from: the file and the key as it was written, so that
// an unknown key is reported as the file's (cli/suggest.hpp).
struct ConfigKey {
  std::string path, key;
};
using ConfigOrigins = std::map<std::string, ConfigKey>;  // by flag name, "--lora-rank"

// argv with every `--config FILE` (or --config=FILE) replaced by the flags its file holds.
// Values: scalars (`true`/`false` for switches) or lists (joined with commas). Fails naming the
// file when it cannot be read or parsed. `origins`, when given, receives each file flag's origin.
std::vector<std::string> expand_config_files(int argc, char** argv,
                                             ConfigOrigins* origins = nullptr);

}  // namespace vktrain::cli
