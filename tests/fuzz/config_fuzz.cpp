// config.json (Hugging Face model config) from arbitrary bytes: io::parse_model_config.
#include "fuzz_input.hpp"
#include "io/model_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vktrain::fuzz::expect_only_clear_errors([&] {
    vktrain::io::parse_model_config(std::string(reinterpret_cast<const char*>(data), size),
                                    "fuzz/config.json");
  });
  return 0;
}
