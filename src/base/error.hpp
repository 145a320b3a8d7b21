#pragma once
// The one exception type that reaches the user. Its message is a single line that names the
// op, file or field at fault and, where there is one, what to do about it.
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace vktrain {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace vktrain
