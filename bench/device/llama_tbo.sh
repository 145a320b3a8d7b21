#!/usr/bin/env bash
# Builds llama.cpp's test-backend-ops with its Vulkan backend, the peer that issue 18's matmul
# targets are measured against (`measure.sh llama` runs it beside bench_matmul), and packs it
# for the device tool's carry as .dev/llama_tbo.xz. llama.cpp's source is the git bundle inside
# the npm package node-llama-cpp; ggml-vulkan's cooperative-matrix shaders need newer Vulkan and
# SPIR-V headers than Debian 12's, which come from a newer Debian release into a private root
# (as scripts/setup fetches the newer glslc it builds them with). Nothing is installed.
#   bench/device/llama_tbo.sh            (about 30 CPU minutes; WORK=/tmp/llama_tbo by default)
set -euo pipefail
PROGRAM=llama_tbo
# shellcheck source=../../scripts/setup
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/setup"
work=${WORK:-/tmp/llama_tbo}
version=${NODE_LLAMA_CPP_VERSION:-3.22.1}  # ggml 0.25.1, the one issue 18's table quotes
[[ -x "$TC/bin/glslc" ]] || die "run scripts/setup first (the newer glslc)"
mkdir -p "$work" && cd "$work"
if [[ ! -d src ]]; then
  npm pack --silent "node-llama-cpp@$version" >/dev/null
  tar xzf "node-llama-cpp-$version.tgz"
  git -c advice.detachedHead=false clone -q package/llama/gitRelease.bundle src
fi
if [[ ! -d vk/root/usr/include/vulkan ]]; then
  for next in $(newer_codenames "$CODENAME"); do
    fetch_private_root "$work/vk" "$next" libvulkan-dev spirv-headers && break
  done
fi
include="$work/vk/root/usr/include"
[[ -d "$include/vulkan" ]] || die "no newer Vulkan headers could be fetched"
cmake -S src -B build -DCMAKE_BUILD_TYPE=Release -DGGML_VULKAN=ON -DLLAMA_BUILD_TESTS=ON \
  -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF \
  -DVulkan_INCLUDE_DIR="$include" -DVulkan_GLSLC_EXECUTABLE="$TC/bin/glslc" \
  -DSPIRV-Headers_DIR="$work/vk/root/usr/share/cmake/SPIRV-Headers" \
  -DCMAKE_C_FLAGS="-isystem $include" -DCMAKE_CXX_FLAGS="-isystem $include" > cmake.log
nice cmake --build build -j"$(nproc)" --target test-backend-ops > build.log
mkdir -p "$ROOT/.dev"
strip -o "$work/test-backend-ops" build/bin/test-backend-ops
xz -T0 -6 -c "$work/test-backend-ops" > "$ROOT/.dev/llama_tbo.xz"
say ".dev/llama_tbo.xz $(du -h "$ROOT/.dev/llama_tbo.xz" | cut -f1)"
