#include "train/human_format.hpp"

#include <cmath>

#include <fmt/format.h>

namespace vktrain::train {

std::string format_count(int64_t value) {
  std::string digits = std::to_string(value < 0 ? -(value + 1) + uint64_t(1) : uint64_t(value));
  std::string grouped;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) grouped += ',';
    grouped += digits[i];
  }
  return value < 0 ? "-" + grouped : grouped;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--";
  auto total = int64_t(std::llround(seconds));
  if (total < 60) return fmt::format("{}s", total);
  if (total < 3600) return fmt::format("{}m{:02}s", total / 60, total % 60);
  return fmt::format("{}h{:02}m", total / 3600, total / 60 % 60);
}

std::string format_bytes(uint64_t bytes) {
  constexpr double mib = 1024.0 * 1024.0, gib = 1024.0 * mib;
  if (double(bytes) >= gib) return fmt::format("{:.1f} GiB", double(bytes) / gib);
  if (double(bytes) >= mib) return fmt::format("{:.0f} MiB", double(bytes) / mib);
  return fmt::format("{:.1f} MiB", double(bytes) / mib);
}

}  // namespace vktrain::train
