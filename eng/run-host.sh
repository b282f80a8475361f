#!/usr/bin/env bash
# Installs missing servers, builds, starts local PostgreSQL (shard 1 primary + replica, shard 2,
# metadata) and three Redis masters with the test-server harness, and runs BookingHost against them.
# Ctrl+C (or SIGTERM) stops BookingHost and removes the servers. Port: BOOKINGHOST_PORT (default 5080).
# The console shows one readable line per log entry; BookingHost__JsonLogs=true gives the JSON lines of production.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

bash eng/install-prerequisites.sh
dotnet build samples/BookingHost/BookingHost.csproj -c Release -nologo -v quiet
dotnet build tests/Scaling.TestServers/Scaling.TestServers.csproj -c Release -nologo -v quiet

port="${BOOKINGHOST_PORT:-5080}"
url="http://127.0.0.1:${port}"
# A fresh signing key per run (every instance of one deployment must share it; here there is one instance).
export BookingHost__Jwt__SigningKey="${BOOKINGHOST_JWT_KEY:-$(head -c 48 /dev/urandom | base64 | tr -d '\n')}"
export BookingHost__Seed=true
export BookingHost__JsonLogs="${BookingHost__JsonLogs:-false}"
cat <<EXAMPLES
BookingHost will listen on ${url} with demo data: businesses acme-salon (shard-1) and city-clinic (shard-2);
users customer@demo.test, admin@demo.test, owner@acme-salon.demo.test, staff@acme-salon.demo.test (password: demo-password).
Ctrl+C stops it and removes the servers. Try, in another shell:

  curl -s ${url}/health/ready
  curl -s ${url}/api/v1/services  -H 'X-Tenant: acme-salon'          # or: curl -s --resolve acme-salon.localhost:${port}:127.0.0.1 http://acme-salon.localhost:${port}/api/v1/services
  curl -s ${url}/api/v1/resources -H 'X-Tenant: acme-salon'
  TOKEN=\$(curl -s ${url}/api/v1/auth/login -H 'Content-Type: application/json' \\
          -d '{"email":"customer@demo.test","password":"demo-password"}' | sed -E 's/.*"accessToken":"([^"]+)".*/\\1/')
  curl -s "${url}/api/v1/availability?serviceId=SERVICE_ID&resourceId=RESOURCE_ID&date=YYYY-MM-DD" -H 'X-Tenant: acme-salon'
  curl -si ${url}/api/v1/bookings -H 'X-Tenant: acme-salon' -H "Authorization: Bearer \$TOKEN" \\
          -H 'Content-Type: application/json' -H "Idempotency-Key: \$(cat /proc/sys/kernel/random/uuid)" \\
          -d '{"serviceId":"SERVICE_ID","resourceId":"RESOURCE_ID","startsAt":"A SLOT FROM AVAILABILITY"}'
  curl -s ${url}/api/v1/bookings -H 'X-Tenant: acme-salon' -H "Authorization: Bearer \$TOKEN"
  curl -s ${url}/api/v1/queues/front-desk/tokens -H 'X-Tenant: acme-salon' -H "Authorization: Bearer \$TOKEN" \\
          -H 'Content-Type: application/json' -d '{"customerName":"Walk-in"}'
  curl -s ${url}/api/v1/queues/front-desk -H 'X-Tenant: acme-salon'
  curl -N ${url}/api/v1/events -H 'X-Tenant: acme-salon' -H "Authorization: Bearer \$TOKEN"     # live events (SSE)
  curl -s ${url}/metrics | grep scaling_ | head
  # Prometheus with BookingHost's alert and recording rules (then http://127.0.0.1:9090/alerts); its target is port
  # 5080: edit samples/BookingHost/prometheus/prometheus.yml for another BOOKINGHOST_PORT.
  prometheus --config.file=${root}/samples/BookingHost/prometheus/prometheus.yml --storage.tsdb.path=\$(mktemp -d) --web.listen-address=127.0.0.1:9090
  curl -s ${url}/openapi/v1.json | head -c 400

EXAMPLES
exec dotnet tests/Scaling.TestServers/bin/Release/net10.0/Scaling.TestServers.dll exec -- \
  dotnet samples/BookingHost/bin/Release/net10.0/BookingHost.dll --urls "${url}" --contentRoot "${root}/samples/BookingHost/bin/Release/net10.0"
