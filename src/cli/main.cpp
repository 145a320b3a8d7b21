// vktrain: train and fine-tune transformer language models on any Vulkan GPU.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "base/error.hpp"
#include "cli/devices.hpp"
#include "cli/doctor.hpp"

int main(int argc, char** argv) {
  CLI::App app{"vktrain: train and fine-tune transformer language models on any Vulkan GPU"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "vktrain 0.1.0");

  auto* devices = app.add_subcommand("devices", "list Vulkan devices, their features and memory");
  std::optional<std::string> device;
  auto* doctor = app.add_subcommand(
      "doctor", "check the device: capabilities, measured matmul TFLOP/s and copy GB/s");
  doctor->add_option("--device", device, "device index or name substring (VKTRAIN_DEVICE)");

  try {
    app.parse(argc, argv);
    if (devices->parsed()) return vktrain::cli::run_devices();
    if (doctor->parsed()) return vktrain::cli::run_doctor(device);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const vktrain::Error& e) {
    fmt::print(stderr, "vktrain: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "vktrain: internal error: {}\n", e.what());
    return 2;
  }
  return 0;
}
