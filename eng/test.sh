#!/usr/bin/env bash
# The full test suite: installs missing servers, builds everything, runs every test project against
# real PostgreSQL and Redis servers (started by the tests themselves), packs the five libraries and
# runs a consumer project that references them as NuGet packages, then smoke-runs every command the
# README shows: the load test (two loops), the run command (eng/run-host.sh) and a benchmark suite.
set -euo pipefail
cd "$(dirname "$0")/.."

bash eng/install-prerequisites.sh

started=$(date +%s)
dotnet build Scaling.sln -c Release -nologo -v quiet

results="artifacts/test-results"
rm -rf "$results"
status=0
dotnet test Scaling.sln -c Release --no-build --nologo --logger "trx" --logger "console;verbosity=normal" \
  --results-directory "$results" || status=$?

bash eng/package-smoke.sh || status=$?

# The load test's smoke run (seconds, small numbers): two instances behind nginx, every invariant checked in
# PostgreSQL, any unexpected answer fails it. Full runs are manual (docs/benchmarks.md).
# Once with closed-loop clients, once on an open-loop schedule.
for run in closed open; do
  args=(--smoke --out "artifacts/loadtest/smoke-${run}")
  if [ "$run" = open ]; then args+=(--rate 150); fi
  rm -rf "artifacts/loadtest/smoke-${run}"
  smoke=0
  LOADTEST_NO_BUILD=1 bash eng/load-test.sh "${args[@]}" >"artifacts/loadtest-smoke-${run}.log" 2>&1 || smoke=$?
  if [ "$smoke" -eq 0 ]; then
    echo "load test smoke run (${run} loop): passed, every invariant holds; $(grep -m1 '^| all |' "artifacts/loadtest-smoke-${run}.log")"
  else
    echo "load test smoke run (${run} loop): FAILED (exit code ${smoke}); its output:" >&2
    tail -60 "artifacts/loadtest-smoke-${run}.log" >&2
    status=1
  fi
done

# The README's run command as a user runs it (every example request; stopped by SIGINT, then by SIGTERM; nothing
# left behind), and one benchmark suite in BenchmarkDotNet's dry mode, so every command the README shows runs here.
if bash eng/smoke-run-host.sh int term >artifacts/run-host-smoke.log 2>&1; then
  echo "run command smoke run: passed ($(grep -c '^  ok' artifacts/run-host-smoke.log) checks over two runs, stopped by SIGINT and by SIGTERM)"
else
  echo "run command smoke run: FAILED; its output:" >&2
  tail -60 artifacts/run-host-smoke.log >&2
  status=1
fi
if bash eng/benchmarks.sh dry '*Redlock*' >artifacts/benchmarks-dry.log 2>&1; then
  echo "benchmarks dry run (Redlock suite): passed"
else
  echo "benchmarks dry run (Redlock suite): FAILED; its output:" >&2
  tail -40 artifacts/benchmarks-dry.log >&2
  status=1
fi

# One summary line over every test project (from the TRX files).
passed=0; failed=0; skipped=0
for trx in "$results"/*.trx; do
  [ -e "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx")
  total=$(sed -E 's/.* total="([0-9]+)".*/\1/' <<<"$counters")
  executed=$(sed -E 's/.* executed="([0-9]+)".*/\1/' <<<"$counters")
  passed=$((passed + $(sed -E 's/.* passed="([0-9]+)".*/\1/' <<<"$counters")))
  failed=$((failed + $(sed -E 's/.* failed="([0-9]+)".*/\1/' <<<"$counters")))
  skipped=$((skipped + total - executed))
done
# Name every failed test at the end, with the first lines of its message, so the tail of the log says what failed.
if [ "$failed" -gt 0 ]; then
  echo "Failed tests:"
  for trx in "$results"/*.trx; do
    [ -e "$trx" ] || continue
    # perl-base is part of every Debian system; the TRX holds each result's message inside <Message>.
    perl -0777 -ne '
      while (/<UnitTestResult\b([^>]*?)(?:\/>|>(.*?)<\/UnitTestResult>)/gs) {
        my ($attributes, $body) = ($1, $2 // "");
        next unless $attributes =~ /outcome="Failed"/;
        my ($name) = $attributes =~ /testName="([^"]*)"/;
        print "  $name\n";
        my ($message) = $body =~ /<Message>(.*?)<\/Message>/s;
        my @lines = grep { /\S/ } split /\n/, ($message // "");
        print "      ", substr($_, 0, 300), "\n" for @lines[0 .. ($#lines < 5 ? $#lines : 5)];
      }' "$trx"
  done
fi
echo "Test time: $(( $(date +%s) - started )) s (build included)"
echo "tests: ${passed} passed, ${failed} failed, ${skipped} skipped"
if [ "$passed" -eq 0 ]; then
  echo "No test ran." >&2
  status=1
fi
exit "$status"
