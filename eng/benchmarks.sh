#!/usr/bin/env bash
# Every package's micro-benchmark suite, each against its baseline and the peers in the same run (BenchmarkDotNet),
# plus the cross-instance cache invalidation latency (ours and FusionCache's backplane):
#   bash eng/benchmarks.sh          # short mode: BenchmarkDotNet's short job (13 minutes here)
#   bash eng/benchmarks.sh full     # full mode: BenchmarkDotNet's default job (an hour or more)
#   bash eng/benchmarks.sh short '*Redlock*'   # one suite
#   bash eng/benchmarks.sh dry '*Redlock*'     # dry mode: every benchmark once, to check that it runs (what CI does)
# Suites that need servers start the test servers themselves. Results: artifacts/benchmarks/<mode>/summary.md
# (BenchmarkDotNet's GitHub tables, one per suite) and the full BenchmarkDotNet artifacts beside it.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-short}"
filter="${2:-*}"
case "$mode" in
  short) job=(--job short); invalidations=500 ;;
  full) job=(); invalidations=5000 ;;
  dry) job=(--job dry); invalidations=50 ;;
  *) echo "usage: eng/benchmarks.sh [short|full|dry] [filter]   (mode '$mode' is none of them)" >&2; exit 2 ;;
esac

bash eng/install-prerequisites.sh
out="artifacts/benchmarks/${mode}"
rm -rf "$out"
mkdir -p "$out"
dotnet build benchmarks/Scaling.Benchmarks -c Release -nologo -v quiet
bench=(dotnet benchmarks/Scaling.Benchmarks/bin/Release/net10.0/Scaling.Benchmarks.dll)

started=$(date +%s)
"${bench[@]}" --filter "$filter" "${job[@]}" --artifacts "$out" >"$out/benchmarkdotnet.log" 2>&1 || {
  echo "BenchmarkDotNet failed; the end of $out/benchmarkdotnet.log:" >&2
  tail -40 "$out/benchmarkdotnet.log" >&2
  exit 1
}
if [ "$filter" = "*" ]; then
  "${bench[@]}" cache-invalidation "$invalidations" >"$out/cache-invalidation.txt" 2>&1
fi

{
  echo "# Micro-benchmarks ($mode mode, $(date -u +%Y-%m-%d), $(nproc) cores)"
  echo
  for report in "$out"/results/*-report-github.md; do
    cat "$report"
    echo
  done
  if [ -f "$out/cache-invalidation.txt" ]; then
    echo '## Cross-instance invalidation latency'
    echo
    echo '```'
    cat "$out/cache-invalidation.txt"
    echo '```'
  fi
} >"$out/summary.md"
echo "Benchmarks done in $(( $(date +%s) - started )) s: $out/summary.md"
