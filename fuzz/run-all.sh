#!/bin/sh
# Run every fuzz target (or the ones named) for SECONDS each, one after the other, and print a
# table: target, executions, coverage (edges), features, corpus size, crashes.
#
#   fuzz/run-all.sh 60                 # all targets, one minute each
#   fuzz/run-all.sh 300 chat logname   # two targets, five minutes each
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`).
# The committed seeds in fuzz/corpus/<target>/ are read but never written: new inputs go to
# fuzz/work/<target>/ (git-ignored), crash inputs to fuzz/artifacts/<target>/. Copy a crash you
# keep to fuzz/regressions/<target>/ and replay it with
#   cargo +nightly fuzz run <target> fuzz/regressions/<target>/<file>
# Exit status: 0 when no target crashed, 1 otherwise.
set -u

secs=${1:-60}
[ $# -gt 0 ] && shift
case $secs in
    '' | *[!0-9]*) echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac

cd "$(dirname "$0")" || exit 2
if [ $# -gt 0 ]; then
    targets=$*
else
    targets=$(cargo +nightly fuzz list) || exit 2
fi

# one build for all targets, so the timings below are fuzzing only
cargo +nightly fuzz build >/dev/null 2>&1 || {
    echo "cargo +nightly fuzz build failed; run it by hand to see why" >&2
    exit 2
}

count() { find "$1" -maxdepth 1 -type f -name "$2" 2>/dev/null | wc -l; }

status=0
rows=""
for t in $targets; do
    mkdir -p "work/$t" "artifacts/$t"
    before=$(count "artifacts/$t" '*')
    log="work/$t.log"
    echo "fuzzing $t for ${secs}s ..." >&2
    cargo +nightly fuzz run "$t" "work/$t" "corpus/$t" -- \
        -max_total_time="$secs" -timeout=10 -max_len=4096 -print_final_stats=1 \
        >"$log" 2>&1
    rc=$?
    after=$(count "artifacts/$t" '*')
    crashes=$((after - before))
    if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        crashes="rc=$rc"
    fi
    [ "$rc" -ne 0 ] && status=1
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    corp=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
    rows="$rows$(printf '%-14s %12s %8s %8s %8s %8s' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$crashes")
"
done

printf '%-14s %12s %8s %8s %8s %8s\n' target execs cov ft corpus crashes
printf '%s' "$rows"
exit "$status"
