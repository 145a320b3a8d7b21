#pragma once
// "Did you mean": the names nearest to a mistyped one, and the one-line errors for unknown flags,
// config keys and commands that carry them (`[train] unknown flag --lora-rnak; did you mean
// --lora-rank? (see vktrain train --help)`).
#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

#include "cli/config_file.hpp"

namespace vktrain::cli {

// Edit distance counting an insertion, deletion, substitution or swap of two neighbours as one
// (Damerau-Levenshtein, optimal string alignment).
size_t edit_distance(const std::string& a, const std::string& b);

// The candidates nearest to `word`: those at the smallest edit distance, if it is at most 2 and
// smaller than the word; else those that `word` begins (at least 2 characters). In the
// candidates' order; empty when nothing is near.
std::vector<std::string> nearest_names(const std::string& word,
                                       const std::vector<std::string>& candidates);

// "; did you mean X?", "; did you mean X or Y?", or "" when nothing is near.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates,
                         const std::string& prefix = "");

// The error for the first argument of the command line that no command took (an unknown flag
// or command, a stray value), naming the nearest known names; nullopt when all were taken.
std::optional<std::string> unknown_argument_error(const CLI::App& app,
                                                  const ConfigOrigins& origins);

}  // namespace vktrain::cli
