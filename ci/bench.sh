#!/bin/bash
# Times N runs (default 30) of a command, after 3 warm-up runs, and prints the mean, standard
# deviation, minimum and maximum wall time in milliseconds. Used for docs/benchmarks.md where
# hyperfine is not installed.
N=${N:-30}
for i in 1 2 3; do "$@" > /dev/null 2>&1; done
for i in $(seq "$N"); do
  start=$(date +%s%N); "$@" > /dev/null 2>&1; end=$(date +%s%N)
  echo $(( (end - start) / 1000 ))
done | python3 -c '
import sys, statistics as s
v=[int(l)/1000 for l in sys.stdin]
print(f"runs {len(v)}  mean {s.mean(v):.1f} ms  sd {s.stdev(v):.1f} ms  min {min(v):.1f} ms  max {max(v):.1f} ms")'
