#!/usr/bin/env bash
# The runtime before and after a change, in one sitting: two lowbit binaries, each on the
# .lbm its own export wrote from the same checkpoint, timed by `lowbit bench` alternately
# (old, new, old, new, ...) so that load which comes and goes hits both alike. Prints the
# machine, then per batch/threads the median frames/s of each and new/old.
#   bench/runtime_before_after.sh OLD_LOWBIT OLD.lbm NEW_LOWBIT NEW.lbm [ROUNDS] [SECONDS]
# e.g. (issue 11's IR change; the old binary built from 240a9d4 in a worktree)
#   bench/runtime_before_after.sh /tmp/before/build/bin/lowbit old-lfc.lbm build/bin/lowbit lfc.lbm 3 2
set -euo pipefail
if [ $# -lt 4 ]; then
  echo "usage: $0 OLD_LOWBIT OLD.lbm NEW_LOWBIT NEW.lbm [ROUNDS] [SECONDS]" >&2
  exit 2
fi
old=$1 old_lbm=$2 new=$3 new_lbm=$4 rounds=${5:-3} seconds=${6:-2}
for f in "$old" "$new"; do [ -x "$f" ] || { echo "$0: $f is not an executable" >&2; exit 2; }; done
for f in "$old_lbm" "$new_lbm"; do [ -f "$f" ] || { echo "$0: no such model file: $f" >&2; exit 2; }; done
py=/usr/bin/python3
echo "# machine: $(lscpu | sed -n 's/^Model name: *//p'), family $(grep -m1 'cpu family' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores; $(date -u +%FT%TZ)"
echo "# old: $old $old_lbm; new: $new $new_lbm; $rounds rounds of $seconds s each, alternating"
for batch in 256 1; do
  for threads in 2 1; do
    olds=() news=()
    for ((r = 0; r < rounds; r++)); do
      olds+=("$("$old" bench "$old_lbm" --batch "$batch" --threads "$threads" --seconds "$seconds" --json)")
      news+=("$("$new" bench "$new_lbm" --batch "$batch" --threads "$threads" --seconds "$seconds" --json)")
    done
    "$py" - "$batch" "$threads" "${olds[@]}" -- "${news[@]}" <<'PY'
import json, statistics, sys
batch, threads, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
cut = rest.index("--")
old = [json.loads(s)["fps"] for s in rest[:cut]]
new = [json.loads(s)["fps"] for s in rest[cut + 1:]]
mo, mn = statistics.median(old), statistics.median(new)
print(f"batch {batch:>3} threads {threads}: old {mo:12.0f} fps  new {mn:12.0f} fps  new/old {mn / mo:.3f}"
      f"  (old {min(old):.0f}-{max(old):.0f}, new {min(new):.0f}-{max(new):.0f})")
PY
  done
done
