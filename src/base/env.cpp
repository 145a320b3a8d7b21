#include "base/env.hpp"

#include <cstdlib>
#include <string_view>

namespace vktrain::env {

std::optional<std::string> get(const char* name) {
  const char* value = std::getenv(name);
  if (!value || !*value) return std::nullopt;
  return std::string(value);
}

bool flag(const char* name) {
  auto value = get(name);
  if (!value) return false;
  std::string_view v = *value;
  return v == "1" || v == "true" || v == "yes" || v == "on";
}

std::string cache_dir() {
  if (auto dir = get(kCacheDir)) return *dir;
  if (auto xdg = get("XDG_CACHE_HOME")) return *xdg + "/vktrain";
  if (auto home = get("HOME")) return *home + "/.cache/vktrain";
  return "";
}

}  // namespace vktrain::env
