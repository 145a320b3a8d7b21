#pragma once
// Numbers as a person reads them, shared by the progress line and report.html.
#include <cstdint>
#include <string>

namespace vktrain::train {

// 12345 -> "12,345"; -1234 -> "-1,234".
std::string format_count(int64_t value);

// 42 -> "42s", 192 -> "3m12s", 7500 -> "2h05m", 200000 -> "55h33m"; fractions are rounded to whole
// seconds; negative, NaN or infinite -> "--" (not known yet).
std::string format_duration(double seconds);

// 812 MiB -> "812 MiB", 5.4 GiB -> "5.4 GiB", below 1 MiB -> "0.5 MiB".
std::string format_bytes(uint64_t bytes);

}  // namespace vktrain::train
