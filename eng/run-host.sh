#!/usr/bin/env bash
# Installs missing servers, builds, starts local PostgreSQL (shard 1 primary + replica, shard 2,
# metadata) and three Redis masters with the test-server harness, and runs BookingHost against them.
# Ctrl+C stops BookingHost and removes the servers. Port: BOOKINGHOST_PORT (default 5080).
set -euo pipefail
cd "$(dirname "$0")/.."

bash eng/install-prerequisites.sh
dotnet build samples/BookingHost/BookingHost.csproj -c Release -nologo -v quiet
dotnet build tests/Scaling.TestServers/Scaling.TestServers.csproj -c Release -nologo -v quiet

port="${BOOKINGHOST_PORT:-5080}"
url="http://127.0.0.1:${port}"
echo "BookingHost will listen on ${url} (try ${url}/health/live and ${url}/health/ready; Ctrl+C to stop)"
exec dotnet tests/Scaling.TestServers/bin/Release/net10.0/Scaling.TestServers.dll exec -- \
  dotnet samples/BookingHost/bin/Release/net10.0/BookingHost.dll --urls "${url}"
