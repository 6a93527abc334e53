#!/usr/bin/env bash
# make bench: installs the pinned peers (bench/requirements.txt) into .venv-bench, builds the
# release binaries once, then runs bench/run.py inside the local AWS emulator. Knobs: see
# bench/run.py (BENCH_OBJECTS, BENCH_INIT_RUNS, BENCH_CSV_MIB, BENCH_REPEAT, BENCH_ROWS, ...).
#
#   BENCH_TARGET_DIR  cargo target dir of the release build (default target/bench-release, so a
#                     concurrent `sam build`/`cargo build --release` does not hold our lock)
#   BENCH_ARM64=1     also build arm64 zips with cargo-lambda (slow: ~10+ min cold) for the
#                     package row; otherwise existing arm64 builds (target/lambda, .aws-sam)
#                     are measured, or the host binaries, labelled as such.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv="$root/.venv-bench"
req="$root/bench/requirements.txt"
log() { printf 'bench: %s\n' "$*" >&2; }

want=$(sha256sum "$req" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.requirements.sha" 2>/dev/null)" != "$want" ]; then
  log "installing the pinned peers into $venv (boto3, pyarrow, duckdb, awscli, cargo-lambda)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$venv/.requirements.sha"
fi

target=${BENCH_TARGET_DIR:-$root/target/bench-release}
case "$target" in /*) ;; *) target="$root/$target" ;; esac
log "release build (fat LTO; minutes when cold) into $target"
CARGO_TARGET_DIR="$target" cargo build --quiet --release \
  -p validate-upload -p start-job -p notify-failure -p check-compaction -p curate -p lakeline-cli -p lakeline-local

if [ "${BENCH_ARM64:-0}" = 1 ]; then
  log "arm64 build with cargo-lambda (slow)"
  PATH="$venv/bin:$PATH" cargo lambda build --release --arm64 \
    -p validate-upload -p start-job -p notify-failure -p check-compaction -p curate
fi

export BENCH_BIN_DIR="$target/release"
exec scripts/local-aws run "$venv/bin/python" bench/run.py
