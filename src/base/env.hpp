#pragma once
// The environment switches (VKTRAIN_*), read in one place. The README lists them all.
#include <optional>
#include <string>

namespace vktrain::env {

std::optional<std::string> get(const char* name);  // unset or empty -> nullopt
bool flag(const char* name);                        // "1", "true", "yes", "on"

inline constexpr const char* kDevice = "VKTRAIN_DEVICE";      // device index or name substring
inline constexpr const char* kValidate = "VKTRAIN_VALIDATE";  // Khronos validation, errors fatal
inline constexpr const char* kProfile = "VKTRAIN_PROFILE";    // per-dispatch timestamps
inline constexpr const char* kCacheDir = "VKTRAIN_CACHE_DIR"; // pipeline cache folder
// Capabilities to hide, comma-separated (vk::hide_capabilities): one big GPU runs the paths of
// smaller ones, as ggml's GGML_VK_DISABLE_COOPMAT2 does.
inline constexpr const char* kDisable = "VKTRAIN_DISABLE";
// Tuning only: every coopmat2 matmul takes this tile, "BMxBNxBKxTHREADS" (or the shape's choice
// when it starts with ':'); suffixes ":clamped" (clamped loads everywhere) and ":unfused" (addends
// as second products) switch features off for A/B runs (bench/RESULTS.md has the sweeps).
inline constexpr const char* kMatmulTile = "VKTRAIN_MATMUL_TILE";

// $VKTRAIN_CACHE_DIR, else $XDG_CACHE_HOME/vktrain, else $HOME/.cache/vktrain; empty if none.
std::string cache_dir();

}  // namespace vktrain::env
