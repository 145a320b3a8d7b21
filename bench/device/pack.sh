#!/bin/bash
# Packs what bench/device/measure.sh needs on a GPU machine that has no build tools and no
# network: the vktrain binary, the benches, the test programs, the tokenizer downloads and the
# shared libraries that a bare image may lack, into one xz archive under .dev/ (git-ignored) for
# the device tool's `carry` (64 MiB in all, with the Qwen3 tokenizer that `measure.sh ranks`
# trains with: carry .dev, .downloads/tokenizers/qwen3 and .gl). Run here after a Release build:
#   bench/device/pack.sh [BUILD_DIR]      (default: build)
# The Vulkan loader travels separately (.gl/, see /work/.library/device). Open MPI is not packed:
# Debian 12's 4.1.4 runtime crashed in PMIx on the device image, whose own Open MPI 4.1.6 serves
# the same libmpi.so.40.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
[ -x "$build/vktrain" ] || { echo "pack: no $build/vktrain; build first (make)" >&2; exit 1; }
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib" "$stage/tests"
cp "$build/vktrain" "$stage/bin/"
for f in "$build"/bench/bench_*; do [ -f "$f" ] && [ -x "$f" ] && cp "$f" "$stage/bin/"; done
# The test programs measure.sh runs: the kernels' suites by default, every gtest program with
# TESTS=all (for `measure.sh suite`).
tests=${TESTS:-test_ops test_model}
[ "$tests" = all ] && tests=$(cd "$build/tests" && find . -maxdepth 1 -name 'test_*' -type f -executable -printf '%f ')
for t in $tests; do cp "$build/tests/$t" "$stage/tests/"; done
strip --strip-unneeded "$stage"/bin/* "$stage"/tests/*
# Every shared library a binary links beyond glibc, Vulkan and MPI.
ldd "$stage"/bin/* "$stage"/tests/* | awk '$3 ~ /^\// {print $3}' | sort -u |
  grep -Ev '/(libc|libm|libdl|libpthread|librt|ld-linux[^/]*|libvulkan|libmpi|libopen-(rte|pal)|libhwloc|libevent[^/]*)\.so' |
  while read -r lib; do cp -L "$lib" "$stage/lib/"; done
mkdir -p .dev
tar -C "$stage" -cf - bin lib tests | xz -T2 -6 > .dev/bundle.tar.xz
echo "pack: .dev/bundle.tar.xz $(du -h .dev/bundle.tar.xz | cut -f1); carry .dev, .downloads/tokenizers/qwen3 and .gl"
