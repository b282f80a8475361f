#!/usr/bin/env bash
# The full test suite: installs missing servers, builds everything, runs every test project against
# real PostgreSQL and Redis servers (started by the tests themselves), then packs the five libraries
# and runs a consumer project that references them as NuGet packages.
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
echo "Test time: $(( $(date +%s) - started )) s (build included)"
echo "tests: ${passed} passed, ${failed} failed, ${skipped} skipped"
if [ "$passed" -eq 0 ]; then
  echo "No test ran." >&2
  status=1
fi
exit "$status"
