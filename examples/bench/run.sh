#!/usr/bin/env bash
# Runs tenantkit's rate limiting side by side with peer libraries and prints
# a benchstat table and a per-workload summary.
#
#   examples/bench/run.sh [-count N] [-benchtime D] [-bench REGEXP] [-o FILE]
#
# Defaults: -count 6, -benchtime 1s, -bench . (everything), -o bench.txt in
# this directory (the raw `go test` output, input for benchstat). The
# Redis benchmarks run when TEST_REDIS_ADDR is set, or when a Redis answers
# on 127.0.0.1:6379 (then that address is used).
set -euo pipefail
cd "$(dirname "$0")"

count=${COUNT:-6}
benchtime=${BENCHTIME:-1s}
bench=${BENCH:-.}
out=bench.txt
while [ $# -gt 0 ]; do
	case "$1" in
	-count) count=$2; shift 2 ;;
	-benchtime) benchtime=$2; shift 2 ;;
	-bench) bench=$2; shift 2 ;;
	-o) out=$2; shift 2 ;;
	-h | --help) sed -n '2,11p' "$0"; exit 0 ;;
	*) echo "run.sh: unknown argument $1 (try -h)" >&2; exit 2 ;;
	esac
done

if [ -z "${TEST_REDIS_ADDR:-}" ] && command -v redis-cli >/dev/null &&
	redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
	export TEST_REDIS_ADDR=127.0.0.1:6379
fi
echo "# go test -bench '$bench' -count $count -benchtime $benchtime (TEST_REDIS_ADDR=${TEST_REDIS_ADDR:-unset})" >&2

# go-redis logs pool errors to stderr; keep stdout the benchmark stream.
go test -run '^$' -bench "$bench" -benchmem -count "$count" -benchtime "$benchtime" -timeout 180m . 2>/dev/null | tee "$out"

benchstat_cmd=(benchstat)
if ! command -v benchstat >/dev/null; then
	benchstat_cmd=(go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da)
fi
echo
echo "## benchstat $out"
"${benchstat_cmd[@]}" "$out"
echo
echo "## summary"
go run ./cmd/benchsummary "$out"
