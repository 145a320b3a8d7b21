#!/usr/bin/env bash
# check_train_report.sh RUN LOG VKTRAIN: RUN was trained one step, then resumed for a second, both
# with stdout into a pipe that LOG holds. Checks the progress lines, the resume record and
# RUN/report.html: the resume marker, every flag of `vktrain train --help`, the charts.
set -u
run=$1 log=$2 vktrain=$3
report=$run/report.html
fail() { echo "FAIL: $*"; exit 1; }
grep -q '^step 1/1  loss [0-9.]*  lr ' "$log" || fail "no plain progress line for step 1 in $log"
grep -q '^step 2/2  loss [0-9.]*  lr ' "$log" || fail "no plain progress line for step 2 in $log"
! grep -q $'\r' "$log" || fail "a carriage return in $log"
sed -n 2p "$run/metrics.jsonl" | grep -q '"resumed_from":1' || fail "step 2 of metrics.jsonl lacks resumed_from"
grep -q '<th>Resumed at step</th><td>1</td>' "$report" || fail "the summary does not name the resume"
grep -q '<line class="marker"' "$report" || fail "no resume marker"
for chart in '>Throughput<' '>Device memory<' 'data-name="tokens/s"' 'data-name="device memory"'; do
  grep -q "$chart" "$report" || fail "no $chart in the report"
done
flags=$("$vktrain" train --help | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u)
[ -n "$flags" ] || fail "vktrain train --help lists no flags"
for flag in $flags; do
  case $flag in --help|--config) continue ;; esac
  grep -q "<th>${flag#--}</th>" "$report" || fail "the report does not list $flag"
done
grep -qE '<th>dtype</th><td>(bf16|f16) \(auto\)</td>' "$report" || fail "dtype auto not resolved"
grep -q '<th>iters</th><td>2</td>' "$report" || fail "the resumed run's --iters not shown"
grep -q '<th>rslora</th><td>false</td>' "$report" || fail "a switch not given is not shown as false"
grep -q '<th>resume</th><td>true</td>' "$report" || fail "--resume is not shown as true"
echo "report ok: $(echo "$flags" | wc -l) flags listed"
