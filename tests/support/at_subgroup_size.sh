#!/bin/sh
# at_subgroup_size.sh SIZE VKTRAIN COMMAND...: runs COMMAND where the device vktrain picks runs
# subgroups of SIZE lanes, and fails, naming the size it found, where it does not (lavapipe's
# size follows LP_NATIVE_VECTOR_WIDTH, which the caller sets: 128 bits give 4 lanes).
size=$1
vktrain=$2
shift 2
# The chosen device is the one `devices` marks with '*'.
got=$("$vktrain" devices | awk '/^\* /{chosen=1; next} /^  [0-9]+:/{chosen=0}
                                chosen && /subgroup size/{print $3}')
if [ "$got" != "$size" ]; then
  echo "at_subgroup_size: the device runs subgroups of '$got' lanes, not $size" >&2
  exit 1
fi
exec "$@"
