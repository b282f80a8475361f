#!/usr/bin/env bash
# The BookingHost load test: installs nginx and the servers when missing, builds BookingHost and the load
# generator, and runs it.
# Every argument goes to the load generator (see --help); e.g.
#   bash eng/load-test.sh --smoke                      # seconds, small numbers (what CI runs)
#   bash eng/load-test.sh --clients 1000 --duration 60s
#   bash eng/load-test.sh --clients 1000 --duration 90s --fault
#   bash eng/load-test.sh --rate 1500 --clients 2000 --duration 60s   # open loop
set -euo pipefail
cd "$(dirname "$0")/.."

bash eng/install-prerequisites.sh

if [ "${LOADTEST_NO_BUILD:-}" != "1" ]; then
  dotnet build samples/BookingHost/BookingHost.csproj -c Release -nologo -v quiet
  dotnet build benchmarks/LoadTest/LoadTest.csproj -c Release -nologo -v quiet
fi
exec dotnet benchmarks/LoadTest/bin/Release/net10.0/LoadTest.dll "$@"
