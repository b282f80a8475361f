#!/usr/bin/env bash
# Runs the README's first command as a user would and fails if anything a user would see is broken:
#   - starts `bash eng/run-host.sh` (from another working directory, on a free port) and waits for /health/ready;
#   - runs every example request the README and the script print, checking each status and body shape;
#   - checks that the console is readable (one line per entry, no SQL commands, no JSON);
#   - stops it with SIGINT (as Ctrl+C does: the whole process group) and, in a second run, with SIGTERM to the
#     script's process alone (as `kill`, systemd or a container runtime do);
#   - checks that no server process and no temporary folder is left.
# Usage: bash eng/smoke-run-host.sh [int|term]...   (default: int term). Needs curl and jq (eng/install-prerequisites.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${root}/artifacts/run-host-smoke"
mkdir -p "$out"
runs=("$@")
if [ ${#runs[@]} -eq 0 ]; then runs=(int term); fi

fail() {
  echo "run-host smoke: FAILED: $*" >&2
  if [ -n "${log:-}" ] && [ -f "$log" ]; then
    echo "--- the end of $log:" >&2
    tail -40 "$log" >&2
  fi
  exit 1
}

# Whatever ends this script early, the host and its servers go with it.
cleanup() {
  if [ -n "${pgid:-}" ]; then kill -INT -- "-$pgid" 2>/dev/null || true; sleep 5; kill -KILL -- "-$pgid" 2>/dev/null || true; fi
}
trap cleanup EXIT

free_port() {
  local port
  for _ in $(seq 50); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  fail "no free loopback port found"
}

# check NAME EXPECTED_STATUS JQ_FILTER -- curl arguments...   (the body is left in $out/body.json)
check() {
  local name="$1" expected="$2" filter="$3"
  shift 4
  local status
  status=$(curl -s -o "$out/body.json" -w '%{http_code}' --max-time 20 "$@") || fail "$name: curl failed ($*)"
  [ "$status" = "$expected" ] || fail "$name: HTTP $status, expected $expected; body: $(head -c 400 "$out/body.json")"
  if [ -n "$filter" ]; then
    jq -e "$filter" "$out/body.json" >/dev/null || fail "$name: the body does not match '$filter': $(head -c 400 "$out/body.json")"
  fi
  echo "  ok  $name ($status)"
}

run_once() {
  local stop_signal="$1"
  local port url servers_dir
  port=$(free_port)
  url="http://127.0.0.1:${port}"
  log="$out/run-host-${stop_signal}.log"
  echo "run-host smoke ($stop_signal): bash eng/run-host.sh on port $port, from $(dirname "$root")"

  # Job control: the script gets its own process group (as in a terminal) and does not ignore SIGINT.
  set -m
  (cd "$(dirname "$root")" && BOOKINGHOST_PORT="$port" exec bash "$root/eng/run-host.sh") >"$log" 2>&1 &
  pgid=$!
  set +m

  local ready=0
  for _ in $(seq 300); do
    if curl -sf --max-time 2 "$url/health/ready" >/dev/null 2>&1; then ready=1; break; fi
    kill -0 "$pgid" 2>/dev/null || fail "eng/run-host.sh ended before BookingHost was ready"
    sleep 1
  done
  [ "$ready" = 1 ] || fail "BookingHost was not ready within 300 s"
  servers_dir=$(sed -nE 's/^Servers ready in .* \((.*)\):$/\1/p' "$log" | head -1)
  [ -n "$servers_dir" ] && [ -d "$servers_dir" ] || fail "the script did not print its servers' folder"
  local redis_ports
  redis_ports=$(sed -nE 's/^  redis-[0-9]+ +127\.0\.0\.1:([0-9]+)$/\1/p' "$log")

  # The examples, in the order the script prints them.
  check "health/ready" 200 '.status == "Healthy" and (.checks | length) >= 8' -- "$url/health/ready"
  check "health/live" 200 '' -- "$url/health/live"
  check "services (X-Tenant)" 200 'type == "array" and length >= 1 and all(.[]; .id and .name and .durationMinutes > 0)' -- \
    "$url/api/v1/services" -H 'X-Tenant: acme-salon'
  local service
  service=$(jq -r '[.[] | select(.name == "Haircut")][0].id // .[0].id' "$out/body.json")
  check "services (subdomain)" 200 "any(.[]; .id == \"$service\")" -- \
    --resolve "acme-salon.localhost:${port}:127.0.0.1" "http://acme-salon.localhost:${port}/api/v1/services"
  check "resources" 200 'type == "array" and length >= 1 and all(.[]; .id and .name and (.hours | type == "array"))' -- \
    "$url/api/v1/resources" -H 'X-Tenant: acme-salon'
  local resource
  resource=$(jq -r '.[0].id' "$out/body.json")

  # The login exactly as printed (sed, no jq), so the example itself is what is tested.
  local token
  token=$(curl -s "$url/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d '{"email":"customer@demo.test","password":"demo-password"}' | sed -E 's/.*"accessToken":"([^"]+)".*/\1/')
  [[ "$token" =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]] || fail "login: no access token in the answer ($token)"
  echo "  ok  login (a JWT)"
  check "login (wrong password)" 401 '.status == 401' -- "$url/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d '{"email":"customer@demo.test","password":"not-the-password"}'

  # Availability: the first day of the coming week with a free slot.
  local slot="" day
  for offset in 1 2 3 4 5 6 7; do
    day=$(date -u -d "+${offset} day" +%F)
    check "availability $day" 200 '(.slots | type == "array") and all(.slots[]; type == "string") and .timeZone' -- \
      "$url/api/v1/availability?serviceId=${service}&resourceId=${resource}&date=${day}" -H 'X-Tenant: acme-salon'
    slot=$(jq -r '.slots[0] // empty' "$out/body.json")
    if [ -n "$slot" ]; then break; fi
  done
  [ -n "$slot" ] || fail "availability: no free slot in the coming week"

  # Live events: open the stream first, so the booking below must arrive on it.
  local events="$out/events-${stop_signal}.txt"
  curl -sN --max-time 30 -D "$out/events-headers.txt" "$url/api/v1/events" -H 'X-Tenant: acme-salon' \
    -H "Authorization: Bearer $token" >"$events" 2>/dev/null &
  local events_pid=$!
  for _ in $(seq 50); do grep -q '^: connected' "$events" 2>/dev/null && break; sleep 0.1; done
  grep -q '^: connected' "$events" || fail "events: the stream did not open"
  grep -qi '^content-type: text/event-stream' "$out/events-headers.txt" || fail "events: not text/event-stream"

  local key body
  key=$(cat /proc/sys/kernel/random/uuid)
  body="{\"serviceId\":\"${service}\",\"resourceId\":\"${resource}\",\"startsAt\":\"${slot}\"}"
  check "booking create" 201 '.id and .status == "confirmed"' -- -D "$out/booking-headers.txt" "$url/api/v1/bookings" \
    -H 'X-Tenant: acme-salon' -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -H "Idempotency-Key: $key" -d "$body"
  local booking consistency
  booking=$(jq -r .id "$out/body.json")
  consistency=$(sed -nE 's/^X-Consistency-Token: ([^[:space:]]+).*/\1/ip' "$out/booking-headers.txt")
  [ -n "$consistency" ] || fail "booking create: no X-Consistency-Token header"
  grep -qi '^location: ' "$out/booking-headers.txt" || fail "booking create: no Location header"
  check "booking create (same Idempotency-Key)" 201 ".id == \"$booking\"" -- "$url/api/v1/bookings" \
    -H 'X-Tenant: acme-salon' -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -H "Idempotency-Key: $key" -d "$body"
  check "booking create (same slot, new key)" 409 '.status == 409' -- "$url/api/v1/bookings" \
    -H 'X-Tenant: acme-salon' -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -H "Idempotency-Key: $(cat /proc/sys/kernel/random/uuid)" -d "$body"
  check "bookings list (with the consistency token)" 200 "(.items | any(.id == \"$booking\")) and has(\"nextCursor\")" -- \
    "$url/api/v1/bookings" -H 'X-Tenant: acme-salon' -H "Authorization: Bearer $token" -H "X-Consistency-Token: $consistency"

  for _ in $(seq 50); do grep -q '^event: booking.created' "$events" && break; sleep 0.1; done
  grep -q '^event: booking.created' "$events" || fail "events: booking.created did not arrive on the open stream"
  grep -q "^data: .*${booking}" "$events" || fail "events: the booking.created frame does not carry the booking's id"
  echo "  ok  events (booking.created arrived on the open stream)"
  kill "$events_pid" 2>/dev/null || true
  wait "$events_pid" 2>/dev/null || true

  check "queue token" 201 '.number >= 1 and .status == "waiting"' -- -D "$out/queue-headers.txt" \
    "$url/api/v1/queues/front-desk/tokens" -H 'X-Tenant: acme-salon' -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' -d '{"customerName":"Walk-in"}'
  local number
  number=$(jq -r .number "$out/body.json")
  consistency=$(sed -nE 's/^X-Consistency-Token: ([^[:space:]]+).*/\1/ip' "$out/queue-headers.txt")
  check "queue snapshot" 200 "(.waiting | any(.number == $number)) and (.inService | type == \"array\")" -- \
    "$url/api/v1/queues/front-desk" -H 'X-Tenant: acme-salon' -H "X-Consistency-Token: $consistency"
  check "unknown business" 404 '.status == 404' -- "$url/api/v1/services" -H 'X-Tenant: no-such-business'

  curl -s --max-time 20 "$url/metrics" >"$out/metrics.txt" || fail "metrics: curl failed"
  grep -q '^# TYPE scaling_' "$out/metrics.txt" || fail "metrics: no scaling_ instrument"
  grep -q '^# TYPE http_request_duration_seconds histogram' "$out/metrics.txt" || fail "metrics: no HTTP request duration"
  promtool check metrics <"$out/metrics.txt" >"$out/promtool.txt" 2>&1 || fail "metrics: promtool check metrics: $(cat "$out/promtool.txt")"
  echo "  ok  metrics ($(grep -c '^# TYPE' "$out/metrics.txt") instruments)"
  check "openapi" 200 '.openapi and (.paths | has("/api/v1/bookings"))' -- "$url/openapi/v1.json"

  # The console is for people: readable lines, no SQL commands, no JSON records, one line per request.
  if grep -q '^{"Timestamp"' "$log"; then fail "the console has JSON log records"; fi
  if grep -q 'Npgsql' "$log"; then fail "the console has Npgsql's command records"; fi
  if grep -q 'GET /health/ready' "$log"; then fail "health probes are logged at Information"; fi
  grep -q 'info: BookingHost.Requests\[1\] POST /api/v1/bookings 201' "$log" || fail "no readable request line for the booking"

  # Stop it as a user would, then check that nothing is left behind.
  case "$stop_signal" in
    int) kill -INT -- "-$pgid" ;;     # Ctrl+C: the terminal signals the whole foreground process group
    term) kill -TERM "$pgid" ;;       # kill / systemd / a container runtime: the script's process alone
  esac
  local code=0 stopped=0
  for _ in $(seq 60); do
    if ! kill -0 "$pgid" 2>/dev/null; then stopped=1; break; fi
    sleep 1
  done
  [ "$stopped" = 1 ] || fail "still running 60 s after SIG${stop_signal^^}"
  wait "$pgid" || code=$?
  [ "$code" = 0 ] || fail "the script exited with code $code after SIG${stop_signal^^}"
  grep -q "exited with code 0; stopping the servers" "$log" || fail "BookingHost did not stop cleanly"
  sleep 1
  if pgrep -g "$pgid" >/dev/null 2>&1; then fail "processes left in the script's group: $(pgrep -a -g "$pgid")"; fi
  if pgrep -f -- "$servers_dir" >/dev/null 2>&1; then fail "server processes left: $(pgrep -a -f -- "$servers_dir")"; fi
  for redis_port in $redis_ports; do
    if pgrep -f -- "redis-server 127.0.0.1:${redis_port}" >/dev/null 2>&1; then fail "redis-server on port $redis_port left running"; fi
  done
  [ ! -e "$servers_dir" ] || fail "the servers' folder $servers_dir was left behind"
  pgid=""
  echo "run-host smoke ($stop_signal): passed; stopped by SIG${stop_signal^^}, no server process or folder left"
}

for signal in "${runs[@]}"; do
  case "$signal" in
    int|term) run_once "$signal" ;;
    *) echo "usage: eng/smoke-run-host.sh [int|term]..." >&2; exit 2 ;;
  esac
done
