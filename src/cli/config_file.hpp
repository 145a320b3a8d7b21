#pragma once
// `--config run.yaml|json` for vktrain's commands: a file holding the same keys as the command's
// flags (`lora-rank: 16`, `lora_rank: 16` or {"lora_rank": 16}), parsed with yaml-cpp (YAML 1.2,
// so a JSON object reads too). The file's keys become flags placed before the command line's own,
// and a flag given on the command line wins over the file's key. An unknown key is an unknown flag:
// one error naming it.
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace vktrain::cli {

// Adds --config to `command` (for --help; expand_config_files does the work).
void add_config_option(CLI::App& command);

// argv with every `--config FILE` (or --config=FILE) replaced by the flags its file holds.
// Values: scalars (`true`/`false` for switches) or lists (joined with commas). Fails naming the
// file when it cannot be read or parsed.
std::vector<std::string> expand_config_files(int argc, char** argv);

}  // namespace vktrain::cli
