#!/usr/bin/env bash
# HTTP load benchmarks with wrk on loopback (issue 5), interleaved and paired.
#
#   bash benches/http/run.sh            # 9 rounds, 10 s per run
#   ROUNDS=15 DURATION=20s bash benches/http/run.sh
#
# Part 1, overhead: the same trivial handler (`GET /api/hello`) served
#   bare        axum, nothing in front
#   cutty_mem   behind Cutty's gate (JWT auth + rate limit), in-memory counters
#   cutty_redis behind Cutty's gate, counters in Redis (127.0.0.1:6379)
#   governor    behind tower_governor alone (per-IP GCRA)
#   governor_headers  the same with tower_governor's use_headers() (x-ratelimit-limit and
#               -remaining on every answer, as Cutty's contract has them)
#   bare_wire   a floor: the bare handler answering the same four headers as constants (the
#               bytes on the wire without the checking)
#   jwt_floor   a floor for any JWT-authenticated server: bare_wire behind a middleware that
#               only verifies the token (Cutty's TokenCodec), 401 otherwise
# each on `http-bench` (mimalloc as the global allocator) and, as MODE/system, on
# `http-bench-system` (the system allocator); by default bare, cutty_mem and governor run
# on both. A ratio is always taken between two servers on the same allocator.
# Every mode is sent the same request, `Authorization: Bearer <access token>` included (the
# servers that do not check it ignore it). Every round runs the modes in a fresh random
# order; the report quotes per-mode medians and the median of the per-round ratios against
# `bare` (the machine is noisy: ratios taken within one round cancel most of the drift).
#
# Part 2, isolation: p99 of `GET /api/accounts/user` on the real `cutty` server while a
# login flood (PBKDF2 at 600 000 iterations, 64 connections) saturates the hashing pool.
# The probe runs twice, alone and during the flood, each with PROBE_CONNECTIONS (default 4)
# closed-loop connections: a probe that itself saturates the server (as 32 connections
# do) measures its own queueing, not the flood's effect. Set PROBE_CONNECTIONS=32 to see
# that too.
#
# The server is pinned to CPU 0 and wrk to CPU 1 where the machine has two or more.
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS="${ROUNDS:-9}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
PROBE_CONNECTIONS="${PROBE_CONNECTIONS:-4}"
OUT="${OUT:-target/http-bench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
mkdir -p "$OUT"

command -v wrk >/dev/null || { echo "wrk is required (Debian package wrk)" >&2; exit 1; }
if [ "$(nproc)" -ge 2 ]; then SERVER_CPU="taskset -c 0"; LOAD_CPU="taskset -c 1"; else SERVER_CPU=""; LOAD_CPU=""; fi

cargo build --release -q -p cutty-benches --bin http-bench --bin http-bench-system
cargo build --release -q -p cutty-examples --bin cutty
BIN="$CARGO_TARGET_DIR/release"

# Starts "$@" in the background, waits for its "listening on http://ADDR" line on stdout,
# sets SERVER_PID and SERVER_URL (and SERVER_TOKEN when the server prints "token: T").
start_server() {
  local log="$OUT/server.out"
  : > "$log"
  $SERVER_CPU "$@" > "$log" 2> "$OUT/server.err" &
  SERVER_PID=$!
  for _ in $(seq 1 200); do
    if grep -q 'listening on http://' "$log"; then break; fi
    sleep 0.05
  done
  SERVER_URL="$(grep -o 'http://[0-9.:]*' "$log" | head -n1)"
  SERVER_TOKEN="$(sed -n 's/^token: //p' "$log" | head -n1)"
  [ -n "$SERVER_URL" ] || { echo "server did not start: $*" >&2; cat "$OUT/server.err" >&2; exit 1; }
}
stop_server() { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }

# Prints "<req/s> <p99 ms>" for one wrk run.
wrk_run() {
  local url="$1"; shift
  local out
  out="$($LOAD_CPU wrk -t1 -c"${WRK_CONNECTIONS:-$CONNECTIONS}" -d"$DURATION" --latency "$@" "$url")"
  echo "$out" >> "$OUT/wrk.log"
  python3 - "$out" <<'PY'
import re, sys
text = sys.argv[1]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", text)
scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
if non2xx:
    sys.stderr.write(f"warning: {non2xx.group(1)} non-2xx responses\n")
print(f"{rps} {float(m.group(1)) * scale}")
PY
}

RESULTS="$OUT/overhead.tsv"
# ROUNDS=0 keeps the previous overhead results and reruns only part 2.
[ "$ROUNDS" -eq 0 ] || echo -e "round\tmode\trps\tp99_ms" > "$RESULTS"
for round in $(seq 1 "$ROUNDS"); do
  for mode in $(printf '%s\n' ${MODES:-bare bare_wire jwt_floor cutty_mem cutty_redis governor governor_headers bare/system cutty_mem/system governor/system} | shuf); do
    # MODE runs on http-bench (mimalloc), MODE/system on http-bench-system (glibc malloc).
    if [ "${mode%/system}" = "$mode" ]; then
      start_server "$BIN/http-bench" "$mode"
    else
      start_server "$BIN/http-bench-system" "${mode%/system}"
    fi
    # Every mode is sent the same request bytes, the token included.
    [ -n "$SERVER_TOKEN" ] || { echo "$mode printed no token" >&2; exit 1; }
    read -r rps p99 < <(wrk_run "$SERVER_URL/api/hello" -H "Authorization: Bearer $SERVER_TOKEN")
    stop_server
    echo -e "$round\t$mode\t$rps\t$p99" | tee -a "$RESULTS"
  done
done

# Part 2: login flood against the hashing pool, p99 of an authenticated read meanwhile.
FLOOD="$OUT/flood"
rm -rf "$FLOOD" && mkdir -p "$FLOOD"
export CUTTY_ENV=development DATABASE_URL="sqlite://$FLOOD/cutty.db" \
  CUTTY_DEV_SECRETS_FILE="$FLOOD/secrets.toml" CUTTY_RATE_LIMIT_IP=1000000000 \
  CUTTY_RATE_LIMIT_USER=1000000000 RUST_LOG=warn
start_server "$BIN/cutty" serve --bind 127.0.0.1:0
login_body='{"username":"flood-user","password":"correct horse battery"}'
curl -s -o /dev/null -X POST -H 'Content-Type: application/json' \
  -d '{"username":"flood-user","email":"flood@example.com","password":"correct horse battery"}' \
  "$SERVER_URL/api/accounts/register"
TOKEN="$(curl -s -X POST -H 'Content-Type: application/json' -d "$login_body" \
  "$SERVER_URL/api/accounts/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
cat > "$FLOOD/login.lua" <<LUA
wrk.method = "POST"
wrk.body = '$login_body'
wrk.headers["Content-Type"] = "application/json"
LUA
read -r base_rps base_p99 < <(WRK_CONNECTIONS="$PROBE_CONNECTIONS" wrk_run "$SERVER_URL/api/accounts/user" -H "Authorization: Bearer $TOKEN")
$LOAD_CPU wrk -t1 -c64 -d"$DURATION" -s "$FLOOD/login.lua" "$SERVER_URL/api/accounts/login" > "$FLOOD/flood.log" &
FLOOD_PID=$!
sleep 1
read -r flood_rps flood_p99 < <(WRK_CONNECTIONS="$PROBE_CONNECTIONS" wrk_run "$SERVER_URL/api/accounts/user" -H "Authorization: Bearer $TOKEN")
wait "$FLOOD_PID" || true
stop_server
logins="$(sed -n 's/Requests\/sec:\s*//p' "$FLOOD/flood.log")"

python3 - "$RESULTS" "$base_rps" "$base_p99" "$flood_rps" "$flood_p99" "$logins" "$PROBE_CONNECTIONS" <<'PY'
import csv, statistics, sys
import os
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t")) if os.path.exists(sys.argv[1]) else []
by_round = {}
for r in rows:
    by_round.setdefault(r["round"], {})[r["mode"]] = (float(r["rps"]), float(r["p99_ms"]))
modes = ["bare", "bare_wire", "jwt_floor", "cutty_mem", "cutty_redis", "governor", "governor_headers"]
modes += [m + "/system" for m in modes]

def paired(a, b):
    """Median over the rounds that ran both of req/s(a) / req/s(b)."""
    r = [v[a][0] / v[b][0] for v in by_round.values() if a in v and b in v]
    return statistics.median(r) if r else None

if by_round:
    print(f"\n## Overhead ({len(by_round)} interleaved rounds)\n")
    print("A mode runs on mimalloc, MODE/system on the system allocator; each is compared with")
    print("`bare` on the same allocator.\n")
    print("| mode | median req/s | median p99 | median ratio to bare (req/s) |")
    print("|---|---|---|---|")
    for m in modes:
        rps = [v[m][0] for v in by_round.values() if m in v]
        p99 = [v[m][1] for v in by_round.values() if m in v]
        if not rps:
            continue
        base = "bare/system" if m.endswith("/system") else "bare"
        ratio = paired(m, base)
        shown = f"{ratio:.3f}" if ratio is not None else "–"
        print(f"| {m} | {statistics.median(rps):.0f} | {statistics.median(p99):.2f} ms | {shown} |")
    print()
    for suffix in ["", "/system"]:
        for peer in ["governor", "governor_headers", "bare_wire", "jwt_floor"]:
            ratio = paired("cutty_mem" + suffix, peer + suffix)
            if ratio is not None:
                print(f"cutty_mem{suffix} / {peer}{suffix}, median of paired ratios: {ratio:.3f}")
print(f"\n## Login flood (probe: {sys.argv[7]} connections)\n")
print(f"GET /api/accounts/user alone: {float(sys.argv[2]):.0f} req/s, p99 {float(sys.argv[3]):.2f} ms")
print(f"during the login flood ({sys.argv[6].strip()} logins/s): {float(sys.argv[4]):.0f} req/s, p99 {float(sys.argv[5]):.2f} ms")
PY
