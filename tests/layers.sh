#!/bin/sh
# Each layer of src/ includes only itself and the layers below it (DESIGN.md "Layers"); data/
# and model/ are siblings. Prints every include that points up or sideways and fails if any.
src="${1:?usage: layers.sh SRC_DIR}"
status=0
allowed() {
  case "$1" in
    base) echo "base" ;;
    vk) echo "base vk" ;;
    kernels) echo "base vk kernels" ;;
    ops) echo "base vk kernels ops" ;;
    arch) echo "base arch" ;;
    io) echo "base arch io" ;;
    data) echo "base arch io data" ;;
    model) echo "base vk kernels ops arch io model" ;;
    train) echo "base vk kernels ops arch io data model train" ;;
    cli) echo "base vk kernels ops arch io data model train cli" ;;
  esac
}
for dir in "$src"/*/; do
  layer=$(basename "$dir")
  ok=$(allowed "$layer")
  [ -n "$ok" ] || continue
  for target in $(grep -rhoE '^#include "[a-z_]+/' "$dir" | sed -E 's/#include "([a-z_]+)\//\1/' | sort -u); do
    case " $ok " in
      *" $target "*) ;;
      *) [ -d "$src/$target" ] || continue
         grep -rnE "^#include \"$target/" "$dir" | sed "s|^|layers: $layer may not include $target: |"
         status=1 ;;
    esac
  done
done
exit $status
