#!/usr/bin/env bash
# `make fuzz`: run each cargo-fuzz target of fuzz/ for FUZZ_SECONDS seconds
# and print, per target, the executions, the corpus size and the findings.
#
# Usage:
#   hack/fuzz.sh                          # every target, FUZZ_SECONDS (300) each
#   FUZZ_SECONDS=60 hack/fuzz.sh schedule_parse cli_next
#
# Environment:
#   FUZZ_SECONDS  seconds per target (default 300)
#   FUZZ_TIMEOUT  seconds one input may take before libFuzzer reports a
#                 timeout finding (default 10)
#   FUZZ_JOBS     parallel libFuzzer processes per target (default 1: the
#                 machine has 2 shared cores)
#
# Needs a nightly toolchain (`cargo +nightly`) and cargo-fuzz (installed
# from crates.io with `cargo install cargo-fuzz --locked` when missing).
# Everything it keeps lives under ${KRONJOB_CACHE:-~/.cache/kronjob}/fuzz/,
# nothing in the work tree:
#   target/               the instrumented build
#   corpus/<target>/      the corpus, grown across runs (fuzz/seeds/<target>
#                         is read as extra seeds)
#   artifacts/<target>/   inputs that crashed or timed out (the findings)
#   logs/<target>.log     libFuzzer's output of the last run
#   last-run.txt          the summary printed at the end
# Reproduce a finding with
#   cargo +nightly fuzz run --target-dir ~/.cache/kronjob/fuzz/target -s none -a TARGET ARTIFACT
# The exit status is 1 when any target had a finding.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${KRONJOB_CACHE:-$HOME/.cache/kronjob}/fuzz"
SECONDS_PER_TARGET="${FUZZ_SECONDS:-300}"
TIMEOUT="${FUZZ_TIMEOUT:-10}"
JOBS="${FUZZ_JOBS:-1}"

log() { printf '[fuzz %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

cargo +nightly --version >/dev/null 2>&1 || {
  log "a nightly toolchain is needed: rustup toolchain install nightly"
  exit 1
}
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz from crates.io"
  cargo install cargo-fuzz --locked
fi

cd "$ROOT"
if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

# One build for all targets (cargo-fuzz builds one or all). No sanitizer: the code under test is safe Rust,
# so AddressSanitizer finds nothing there and would only slow each run;
# debug assertions (-a) make an integer overflow a finding.
build_flags=(--target-dir "$CACHE/target" --sanitizer none --debug-assertions)
log "building ${targets[*]} (first build: half an hour on 2 cores)"
if [[ $# -gt 0 ]]; then
  for t in "${targets[@]}"; do cargo +nightly fuzz build "${build_flags[@]}" "$t" >&2; done
else
  cargo +nightly fuzz build "${build_flags[@]}" >&2
fi

mkdir -p "$CACHE/logs"
summary="$(mktemp)"
trap 'rm -f "$summary"' EXIT
printf '%-16s %8s %12s %10s %8s  %s\n' target seconds executions "exec/s" corpus findings >"$summary"
status=0
for t in "${targets[@]}"; do
  corpus="$CACHE/corpus/$t"
  artifacts="$CACHE/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  seeds=()
  [[ -d "fuzz/seeds/$t" ]] && seeds=("fuzz/seeds/$t")
  dict=()
  [[ "$t" == schedule_parse || "$t" == cli_next ]] && dict=("-dict=$ROOT/fuzz/dict/schedule.dict")
  before="$(find "$artifacts" -type f | wc -l)"
  log "running $t for ${SECONDS_PER_TARGET}s (log: $CACHE/logs/$t.log)"
  start=$(date +%s)
  rc=0
  # Several workers only when asked: libFuzzer then runs them as child
  # processes that log to fuzz-N.log in the current directory (a temporary
  # one here, appended to the target's log afterwards).
  parallel=()
  [[ "$JOBS" -gt 1 ]] && parallel=(-jobs="$JOBS" -workers="$JOBS")
  workdir="$(mktemp -d)"
  (cd "$workdir" && cargo +nightly fuzz run --fuzz-dir "$ROOT/fuzz" "${build_flags[@]}" "$t" "$corpus" \
    "${seeds[@]/#/$ROOT/}" -- -max_total_time="$SECONDS_PER_TARGET" -timeout="$TIMEOUT" \
    -rss_limit_mb=2048 "${parallel[@]}" -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "${dict[@]}") >"$CACHE/logs/$t.log" 2>&1 || rc=$?
  took=$(($(date +%s) - start))
  cat "$workdir"/fuzz-*.log >>"$CACHE/logs/$t.log" 2>/dev/null || true
  rm -rf "$workdir"
  # One "Done N runs" line per libFuzzer process (the workers' included).
  execs="$(grep -ho '^Done [0-9]* runs' "$CACHE/logs/$t.log" | awk '{s += $2} END {print s + 0}')"
  rate=$((execs / (took > 0 ? took : 1)))
  size="$(find "$corpus" -type f | wc -l)"
  new="$(find "$artifacts" -type f | wc -l)"
  findings=$((new - before))
  note="$findings"
  if [[ $findings -gt 0 || $rc -ne 0 ]]; then
    status=1
    note="$findings (exit $rc; see $artifacts and $CACHE/logs/$t.log)"
  fi
  printf '%-16s %8s %12s %10s %8s  %s\n' "$t" "$took" "$execs" "$rate" "$size" "$note" >>"$summary"
done
{
  echo "make fuzz on $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), FUZZ_SECONDS=$SECONDS_PER_TARGET per target"
  cat "$summary"
} | tee "$CACHE/last-run.txt"
exit "$status"
