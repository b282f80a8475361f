#!/usr/bin/env bash
# Before and after, from the same command: runs the BookingHost load test alternately on a base revision and on this
# checkout, in pairs run back to back, and prints one table of what the report says each run cost.
#   bash eng/load-test-ab.sh BASE [--pairs N] [--keep] -- LOAD-TEST ARGUMENTS
#   bash eng/load-test-ab.sh HEAD~3 --pairs 3 -- --clients 200 --duration 20s --sse 0 --hot 0 --mix book=1
# BASE is any git revision with the load test's cost report (issue 20's first round or later). It is checked out in a
# worktree under artifacts/ab/ and built there once, as this checkout is; the worktree is removed at the end unless
# --keep is given. Odd pairs run the base first, even pairs this checkout first, so a machine that drifts during the
# session does not favour one side. Run it alone on the machine: every run saturates it. Each run's full report is
# copied to artifacts/ab/<time>/; the table goes there too (summary.md).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 1 ] || usage
base=$1; shift
pairs=2
keep=0
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  case "$1" in
    --pairs) [ $# -ge 2 ] && [[ "$2" =~ ^[1-9][0-9]*$ ]] || { echo "--pairs needs a whole number of 1 or more." >&2; exit 2; }; pairs=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "Unknown option '$1' (options before '--': --pairs N, --keep)." >&2; usage ;;
  esac
done
[ "${1:-}" = "--" ] || { echo "Give the load test's arguments after '--'." >&2; usage; }
shift

sha=$(git rev-parse --verify --quiet "$base^{commit}") || { echo "'$base' is not a revision of this repository." >&2; exit 2; }
head=$(git rev-parse --short=12 HEAD)$( [ -n "$(git status --porcelain --untracked-files=no)" ] && echo "+changes" || true)
stamp=$(date -u +%Y%m%d-%H%M%S)
out="$root/artifacts/ab/$stamp"
tree="$root/artifacts/ab/base-${sha:0:12}"
mkdir -p "$out"

bash eng/install-prerequisites.sh
if [ ! -e "$tree/.git" ]; then
  git worktree add --detach --force "$tree" "$sha" > /dev/null
fi
cleanup() {
  if [ "$keep" != "1" ]; then
    git -C "$root" worktree remove --force "$tree" 2> /dev/null || true
  fi
}
trap cleanup EXIT

for dir in "$tree" "$root"; do
  (cd "$dir" && dotnet build samples/BookingHost/BookingHost.csproj -c Release -nologo -v quiet > /dev/null \
    && dotnet build benchmarks/LoadTest/LoadTest.csproj -c Release -nologo -v quiet > /dev/null)
done

# One run: the load test in $1 (a tree), its report copied to $out/$2.md; prints the report's path.
run() {
  local dir=$1 name=$2 log="$out/$2.log"
  shift 2
  (cd "$dir" && LOADTEST_NO_BUILD=1 bash eng/load-test.sh "$@") > "$log" 2>&1 || true
  local results
  results=$(grep -o 'Results: .*' "$log" | tail -1 | awk '{print $2}')
  if [ -z "$results" ] || [ ! -f "$results/summary.md" ]; then
    echo "The $name run left no report; its output: $log" >&2
    return 1
  fi
  cp "$results/summary.md" "$out/$name.md"
  echo "$out/$name.md"
}

# One table row from a report.
row() {
  local pair=$1 side=$2 report=$3
  local rps bookings cpu host pg redis all statements commands kib hops result
  rps=$(awk -F'|' '$2 ~ /^ all $/ {gsub(/ /, "", $4); print $4; exit}' "$report")
  bookings=$(grep -oE 'Booking writes \(201\): [0-9.]+' "$report" | grep -oE '[0-9.]+$' || echo "–")
  cpu=$(grep -m1 '^- CPU per request' "$report" || true)
  host=$(grep -oE 'BookingHost [0-9]+' <<< "$cpu" | grep -oE '[0-9]+$' || echo "–")
  pg=$(grep -oE 'PostgreSQL [0-9]+' <<< "$cpu" | grep -oE '[0-9]+$' || echo "–")
  redis=$(grep -oE 'Redis [0-9]+' <<< "$cpu" | grep -oE '[0-9]+$' || echo "–")
  all=$(grep -oE 'all processes [0-9]+' <<< "$cpu" | grep -oE '[0-9]+$' || echo "–")
  statements=$(grep -oE '[0-9.]+ statements \(' "$report" | grep -oE '^[0-9.]+' | head -1 || echo "–")
  commands=$(grep -oE '[0-9.]+ commands per request' "$report" | grep -oE '^[0-9.]+' | head -1 || echo "–")
  kib=$(grep -oE 'allocated [0-9.]+ KiB' "$report" | grep -oE '[0-9.]+' | head -1 || echo "–")
  hops=$(grep -oE 'ran [0-9.]+ work items per request' "$report" | grep -oE '[0-9.]+' | head -1 || echo "–")
  result=$(grep -m1 '^Result:' "$report" | sed -E 's/^Result: //; s/\*//g; s/\.$//' || echo "–")
  echo "| $pair | $side | ${rps:-–} | ${bookings:-–} | ${all:-–} | $host | $pg | $redis | ${statements:-–} | ${commands:-–} | ${kib:-–} | ${hops:-–} | ${result:-–} |"
}

table="$out/summary.md"
{
  echo "# Load test, before and after ($stamp UTC)"
  echo
  echo "- base: $(git log -1 --format='%h %s' "$sha" | cut -c1-100)"
  echo "- this checkout: $head"
  echo "- command: \`bash eng/load-test.sh $*\`, $pairs pair(s); odd pairs ran the base first"
  echo
  echo "| pair | build | requests/s | bookings/s | µs of CPU per request, all processes | BookingHost | PostgreSQL | Redis | PostgreSQL statements per request | Redis commands per request | KiB allocated per request | thread-pool work items per request | invariants |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
} > "$table"

for pair in $(seq 1 "$pairs"); do
  if [ $((pair % 2)) -eq 1 ]; then order="base head"; else order="head base"; fi
  for side in $order; do
    if [ "$side" = "base" ]; then dir=$tree; else dir=$root; fi
    echo "pair $pair: $side ..." >&2
    report=$(run "$dir" "$pair-$side" "$@") || continue
    row "$pair" "$side" "$report" >> "$table"
  done
done

cat "$table"
echo
echo "Reports and logs: $out"
