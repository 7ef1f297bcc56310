#!/usr/bin/env bash
# Smoke-fuzzes every target for a short time; exits non-zero on the first crash, timeout,
# leak or out-of-memory, leaving the reproducer in fuzz/artifacts/<target>/.
#
#   fuzz/smoke.sh                      # every target, 20 s each
#   FUZZ_SECONDS=120 fuzz/smoke.sh     # longer runs
#   fuzz/smoke.sh jwt_verify client_ip # some targets
#
# Needs the nightly toolchain and python3 (for seed.sh). Installs cargo-fuzz if missing.
# Builds go to $CARGO_TARGET_DIR/fuzz when CARGO_TARGET_DIR is set (outside the clone).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

seconds="${FUZZ_SECONDS:-20}"
toolchain="${FUZZ_TOOLCHAIN:-nightly}"
all_targets=(jwt_verify password_verify api_key_parse auth_header client_ip events_query
             trusted_proxies ip_or_cidr csv_process)
if [ "$#" -gt 0 ]; then targets=("$@"); else targets=("${all_targets[@]}"); fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "smoke: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    export CARGO_TARGET_DIR="$CARGO_TARGET_DIR/fuzz"
fi

"$here/seed.sh"
cargo "+$toolchain" fuzz build

summary=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    log="$(mktemp)"
    echo "smoke: fuzzing $t for ${seconds}s" >&2
    # -timeout: one input taking over 10 s is a bug (a hang or an uncapped work factor).
    if ! cargo "+$toolchain" fuzz run "$t" "corpus/$t" -- \
            -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
            -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log" >&2
        echo "smoke: FAILED: $t crashed; reproducer in fuzz/artifacts/$t/" >&2
        echo "smoke: replay with: cargo +$toolchain fuzz run $t fuzz/artifacts/$t/<file>" >&2
        exit 1
    fi
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)"
    cov="$(sed -nE 's/.*DONE[[:space:]]+cov: ([0-9]+) ft: ([0-9]+) corp: ([0-9]+).*/cov \1, ft \2, corpus \3/p' <<<"$done_line")"
    slowest="$(sed -n 's/^stat::slowest_unit_time_sec: *//p' "$log" | tail -n 1)"
    rss="$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)"
    rate="$(sed -nE 's/.*exec\/s: ([0-9]+).*/\1/p' <<<"$done_line")"
    summary+=("$(printf '%-16s %10s execs %7s exec/s  slowest %ss  rss %sMB  %s' \
        "$t" "${execs:-?}" "${rate:-?}" "${slowest:-?}" "${rss:-?}" "$cov")")
    rm -f "$log"
done
echo "smoke: all targets passed (${seconds}s each)"
printf '  %s\n' "${summary[@]}"
