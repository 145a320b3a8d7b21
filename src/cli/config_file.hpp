#pragma once
// `--config run.yaml|json` for vktrain's commands: a file holding the same keys as the command's
// flags (`lora-rank: 16` or {"lora_rank": 16}; dashes and underscores are the same), parsed with
// yaml-cpp (YAML 1.2, so any JSON object reads too). Flags on the command line win over the file.
// Values are scalars or lists of scalars; an unknown key is an error naming it (CLI11 checks the
// names against the command's flags).
#include <CLI/CLI.hpp>

namespace vktrain::cli {

class RunConfigFile : public CLI::Config {
 public:
  std::string to_config(const CLI::App*, bool, bool, std::string) const override;
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override;
};

// Adds --config to `command`, read with RunConfigFile; unknown keys are errors.
void add_config_option(CLI::App& command);

}  // namespace vktrain::cli
