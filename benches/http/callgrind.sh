#!/usr/bin/env bash
# Instructions and allocations per request under callgrind: the deterministic companion of
# run.sh (the same binary and modes; valgrind counts instructions, not seconds, so the
# numbers repeat on a noisy machine).
#
#   bash benches/http/callgrind.sh                  # the default modes, 2 000 requests each
#   MODES="bare cutty_mem bare/system" REQUESTS=5000 bash benches/http/callgrind.sh
#
# A mode runs on `http-bench` (mimalloc); MODE/system runs it on `http-bench-system` (the
# system allocator).
#
# For each mode: start `http-bench MODE` under callgrind, send 300 warm-up requests on one
# keep-alive connection, zero the counters, send REQUESTS more, dump, and divide. Every
# mode receives the same request bytes (the `Authorization: Bearer` token included), as
# in run.sh. valgrind hides SHA-NI, so HMAC-SHA256 runs its software path here (about
# 20k instructions per token verification that the real CPU does in a few thousand).
# The dump is kept in $OUT/MODE.callgrind.1 for `callgrind_annotate`.
set -euo pipefail
cd "$(dirname "$0")/../.."

REQUESTS="${REQUESTS:-2000}"
OUT="${OUT:-target/http-bench/callgrind}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
mkdir -p "$OUT"
command -v valgrind >/dev/null || { echo "valgrind is required (Debian package valgrind)" >&2; exit 1; }

cargo build --release -q -p cutty-benches --bin http-bench --bin http-bench-system
BIN="$CARGO_TARGET_DIR/release"

# Sends N GET /api/hello requests on one keep-alive connection, reading each answer whole.
client() {
  python3 - "$@" <<'PY'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
token, n = sys.argv[2], int(sys.argv[3])
auth = f"Authorization: Bearer {token}\r\n" if token else ""
req = f"GET /api/hello HTTP/1.1\r\nHost: {host}:{port}\r\n{auth}\r\n".encode()
s = socket.create_connection((host, int(port)))
buf = b""
for _ in range(n):
    s.sendall(req)
    while True:
        head, sep, rest = buf.partition(b"\r\n\r\n")
        if sep:
            length = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v)
            if len(rest) >= length:
                status = head.split(b" ", 2)[1]
                if status != b"200":
                    sys.exit(f"answer {status.decode()}: {head.decode(errors='replace')}")
                buf = rest[length:]
                break
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("connection closed")
        buf += chunk
s.close()
PY
}

echo -e "mode\tinstructions_per_request\tallocations_per_request"
for run in ${MODES:-bare bare_wire governor governor_headers jwt_floor cutty_mem bare/system cutty_mem/system}; do
  # MODE runs on http-bench (mimalloc), MODE/system on http-bench-system (glibc malloc).
  mode="${run%/system}"; bin="$BIN/http-bench"
  [ "$mode" = "$run" ] || bin="$BIN/http-bench-system"
  name="${run//\//-}"
  log="$OUT/$name.out"
  rm -f "$OUT/$name.callgrind"*
  valgrind --tool=callgrind --callgrind-out-file="$OUT/$name.callgrind" \
    "$bin" "$mode" > "$log" 2> "$OUT/$name.err" &
  pid=$!
  for _ in $(seq 1 600); do grep -q 'listening on http://' "$log" && break; sleep 0.1; done
  url="$(grep -o 'http://[0-9.:]*' "$log" | head -n1)"
  [ -n "$url" ] || { echo "$run did not start" >&2; cat "$OUT/$name.err" >&2; exit 1; }
  token="$(sed -n 's/^token: //p' "$log" | head -n1)"
  client "${url#http://}" "$token" 300
  callgrind_control -z "$pid" > /dev/null 2>&1
  client "${url#http://}" "$token" "$REQUESTS"
  callgrind_control -d "$pid" > /dev/null 2>&1
  kill "$pid"; wait "$pid" 2>/dev/null || true
  # callgrind_control -d writes FILE.1; the dump at exit (FILE) holds the rest.
  dump="$OUT/$name.callgrind.1"
  ir="$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$dump" | head -n1)"
  [ -n "$ir" ] || ir="$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$dump" | head -n1)"
  allocs="$(python3 - "$dump" "$REQUESTS" <<'PY'
import re, sys
# Sum the calls= counts of every call into the Rust allocator (names are compressed as "(id) name").
names, calls, target = {}, 0, None
# glibc, or mimalloc (the bench binary's allocator) as the Rust allocator calls it.
ALLOCATORS = ("malloc", "calloc", "realloc", "mi_malloc_aligned", "mi_zalloc_aligned", "mi_realloc_aligned")
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line)
    if m and line.startswith("cfn="):
        if m.group(2):
            names[m.group(1)] = m.group(2).strip()
        target = names.get(m.group(1))
    elif m and m.group(2):
        names[m.group(1)] = m.group(2).strip()
    elif line.startswith("calls=") and target in ALLOCATORS:
        calls += int(line.split("=")[1].split()[0])
print(calls // int(sys.argv[2]))
PY
)"
  printf '%s\t%s\t%s\n' "$run" "$((ir / REQUESTS))" "${allocs:-?}"
done
