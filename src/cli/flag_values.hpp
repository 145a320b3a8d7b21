#pragma once
// Every flag of a parsed command with the value the run uses: given on the command line or in a
// --config file, else the default. report.html lists them, so a run's page says everything it
// was asked to do, flags added later included.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace vktrain::cli {

// {"lora-rank": "16", "rslora": false, "epochs": null, ...} by long name: switches as booleans,
// other values as given (a repeated flag's values joined by commas), null for an optional flag
// neither given nor defaulted. --help and --config are left out (a file's keys are flags here).
// Defaults are known only for options added after command.option_defaults()->
// always_capture_default().
nlohmann::json flag_values(const CLI::App& command);

}  // namespace vktrain::cli
