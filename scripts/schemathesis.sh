#!/usr/bin/env bash
# Schema fuzzing of a running `cutty serve` from its own /openapi.json (issue 6).
#
#   scripts/schemathesis.sh [path/to/cutty]      # default: $CARGO_TARGET_DIR/debug/cutty
#   MAX_EXAMPLES=200 scripts/schemathesis.sh      # longer run
#
# Starts the server on a fresh SQLite file, registers a user, and runs schemathesis with the
# checks that matter for a server's honesty: no 5xx, status codes, content types, response
# schemas and headers as documented. Requests are authenticated as that user; the routes
# that revoke the caller's own token (logout, password change, token invalidation) are left
# out so the rest of the run stays authenticated (the conformance suite covers them).
# Installs schemathesis from PyPI when missing. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${1:-${CARGO_TARGET_DIR:-target}/debug/cutty}"
MAX_EXAMPLES="${MAX_EXAMPLES:-25}"
[ -x "$BIN" ] || { echo "no cutty binary at $BIN (cargo build --bin cutty)" >&2; exit 2; }
command -v st >/dev/null || python3 -m pip install --quiet schemathesis
command -v st >/dev/null || { echo "FATAL: schemathesis did not install" >&2; exit 2; }

WORK="$(mktemp -d)"
cleanup() { [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

env -i PATH="$PATH" HOME="$WORK" CUTTY_ENV=development \
  DATABASE_URL="sqlite://$WORK/cutty.db" CUTTY_DEV_SECRETS_FILE="$WORK/secrets.toml" \
  CUTTY_FILES_DIR="$WORK/files" CUTTY_PBKDF2_ITERATIONS=1000 \
  CUTTY_RATE_LIMIT_IP=1000000000 CUTTY_RATE_LIMIT_USER=1000000000 RUST_LOG=warn \
  "$BIN" serve --bind 127.0.0.1:0 > "$WORK/out.log" 2> "$WORK/err.log" &
PID=$!
for _ in $(seq 1 100); do grep -q 'listening on' "$WORK/out.log" && break; sleep 0.1; done
URL="$(grep -o 'http://[0-9.:]*' "$WORK/out.log" | head -n1)"
[ -n "$URL" ] || { echo "server did not start" >&2; cat "$WORK/err.log" >&2; exit 2; }

TOKEN="$(curl -sf -X POST -H 'Content-Type: application/json' \
  -d '{"username":"schema-fuzzer","email":"fuzzer@example.com","password":"correct horse battery"}' \
  "$URL/api/accounts/register" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"

# Run from the scratch directory: schemathesis keeps a cache in its working directory.
cd "$WORK"
st run "$URL/openapi.json" \
  --max-examples "$MAX_EXAMPLES" \
  --seed 20261203 \
  -H "Authorization: Bearer $TOKEN" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
  --exclude-path /api/accounts/logout \
  --exclude-path /api/accounts/password \
  --exclude-path /api/admin/invalidate-user-tokens \
  --no-color
