#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for a while, on the stable toolchain, and fails
# when any of them finds a crash. See docs/fuzzing.md.
#
#   fuzz/run.sh [seconds-per-target] [target...]     default: 20 seconds, every target
#
#   ADIC_TEST_TOOLS     where cargo-fuzz is installed when it is missing (default target/test-tools)
#   ADIC_NO_INSTALL=1   install nothing: fail when cargo-fuzz is missing
#   ADIC_FUZZ_BUILD     cargo-fuzz build options (default: "-O -a": optimized, with debug
#                       assertions and overflow checks; "--codegen-units 16" builds quicker)
#   ADIC_FUZZ_ARGS      more libFuzzer options, e.g. "-fork=2" for two processes per target
#
# Each target reads (and adds what it finds to) fuzz/corpus/<target>, reads the committed
# seeds in fuzz/seeds/<target> and every input in fuzz/regressions/<target> (inputs that once
# crashed it: replayed first, so a regression fails at once). A crash leaves its input in
# fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-20}"
[ $# -gt 0 ] && shift
case "$seconds" in
  '' | *[!0-9]*) echo "usage: fuzz/run.sh [seconds-per-target] [target...]" >&2; exit 2 ;;
esac

# cargo-fuzz: on the PATH, in the tools folder, or installed there (pinned, from crates.io;
# from the local registry cache alone when it already holds the sources).
tools="${ADIC_TEST_TOOLS:-$PWD/target/test-tools}"
CARGO_FUZZ_VERSION=0.13.2
if command -v cargo-fuzz >/dev/null 2>&1; then
  cargo_fuzz=(cargo-fuzz)
elif [ -x "$tools/bin/cargo-fuzz" ]; then
  cargo_fuzz=("$tools/bin/cargo-fuzz")
elif [ "${ADIC_NO_INSTALL:-0}" = 1 ]; then
  echo "fuzz: cargo-fuzz is missing and ADIC_NO_INSTALL=1" >&2
  exit 1
else
  echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION into $tools"
  install=(cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION" --root "$tools" --quiet)
  env -u CARGO_TARGET_DIR timeout 900 "${install[@]}" --offline 2>/dev/null ||
    env -u CARGO_TARGET_DIR timeout 900 "${install[@]}"
  cargo_fuzz=("$tools/bin/cargo-fuzz")
fi

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <("${cargo_fuzz[@]}" list --fuzz-dir fuzz)
fi

read -r -a build <<<"${ADIC_FUZZ_BUILD:--O -a}"
echo "fuzz: building ${#targets[@]} targets (cargo fuzz build -s none ${build[*]})"
"${cargo_fuzz[@]}" build --fuzz-dir fuzz -s none "${build[@]}"

passed=0
failed=()
for target in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$target"
  dirs=("fuzz/corpus/$target")
  for extra in "fuzz/seeds/$target" "fuzz/regressions/$target"; do
    [ -d "$extra" ] && dirs+=("$extra")
  done
  echo "fuzz: $target for ${seconds}s"
  log="fuzz/artifacts/$target.log"
  mkdir -p fuzz/artifacts
  if "${cargo_fuzz[@]}" run --fuzz-dir fuzz -s none "${build[@]}" "$target" "${dirs[@]}" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    ${ADIC_FUZZ_ARGS:-} >"$log" 2>&1; then
    passed=$((passed + 1))
    grep -E '^stat::number_of_executed_units|^Done [0-9]+ runs' "$log" | tail -1 | sed "s/^/fuzz: $target: /" || true
  else
    failed+=("$target")
    echo "fuzz: $target FAILED (log: $log, input in fuzz/artifacts/$target/)" >&2
    grep -E -A12 "panicked at|ERROR: libFuzzer" "$log" | head -40 >&2 || tail -40 "$log" >&2
  fi
done

echo "fuzz: ${passed} passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
