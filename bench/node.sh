#!/usr/bin/env bash
# Node figures for the foundation issue: time from `weft up` to addrs.json, idle RSS of one
# node after 30 s with 4 peers, and RSS of the 5-node demo. Prints a table; asserts nothing.
# Usage: bench/node.sh [IDLE_SECS]   (release build; loopback only)
set -euo pipefail
cd "$(dirname "$0")/.."
idle=${1:-30}
cargo build --release --locked -q -p weft-cli
weft=${CARGO_TARGET_DIR:-$PWD/target}/release/weft
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
start() { # home [extra args...]
  local home=$1; shift
  "$weft" --home "$home" up --listen /ip4/127.0.0.1/tcp/0 --api 127.0.0.1:0 --no-mdns "$@" 2>"$home.log" &
  pids+=($!)
}
wait_addrs() { for _ in $(seq 1 3000); do [ -s "$1/addrs.json" ] && return 0; sleep 0.002; done; return 1; }

# 1. Ready time: first start (identity created) and warm restarts.
times=()
for i in $(seq 1 10); do
  home=$work/ready$((i % 2))   # alternate two folders: the first start of each creates keys
  t0=$(date +%s%N)
  start "$home"; pid=${pids[-1]}
  wait_addrs "$home"
  t1=$(date +%s%N)
  times+=($(( (t1 - t0) / 1000000 )))
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
median=$(echo "$sorted" | sed -n 5p); worst=$(echo "$sorted" | tail -1)

# 2. Idle RSS of one node with 4 peers.
start "$work/n0"; wait_addrs "$work/n0"
boot=$(python3 -c "import json,sys; print([a for a in json.load(open('$work/n0/addrs.json'))['listen'] if '/tcp/' in a][0])")
for i in 1 2 3 4; do start "$work/n$i" --bootstrap "$boot"; done
for i in 1 2 3 4; do wait_addrs "$work/n$i"; done
sleep "$idle"
n0=${pids[-5]}
peers=$("$weft" --home "$work/n0" peers --json | python3 -c "import json,sys; print(len(json.load(sys.stdin)['connected']))")
idle_rss=$(( $(rss_kb "$n0") / 1024 ))
total=0; for p in "${pids[@]: -5}"; do total=$(( total + $(rss_kb "$p") )); done
for p in "${pids[@]: -5}"; do kill "$p"; done; wait 2>/dev/null || true

# 3. The demo: 5 nodes plus the demo process itself.
"$weft" demo --nodes 5 --duration 12 > "$work/demo.out" 2>&1 &
demo=$!; pids+=($demo)
sleep 10
demo_kb=$(rss_kb "$demo")
for c in $(pgrep -P "$demo"); do demo_kb=$(( demo_kb + $(rss_kb "$c") )); done
wait "$demo" || true

printf '%-44s %10s %10s\n' "figure" "measured" "target"
printf '%-44s %8s ms %8s ms\n' "weft up -> addrs.json (median of 10)" "$median" 300
printf '%-44s %8s ms %10s\n' "weft up -> addrs.json (worst of 10)" "$worst" ""
printf '%-44s %8s MB %8s MB\n' "idle RSS, one node, ${idle}s with $peers peers" "$idle_rss" 30
printf '%-44s %8s MB %10s\n' "RSS of those 5 nodes together" "$(( total / 1024 ))" ""
printf '%-44s %8s MB %10s\n' "RSS of 'weft demo --nodes 5' (all processes)" "$(( demo_kb / 1024 ))" ""
echo "RESULT node_bench ready_median_ms=$median ready_worst_ms=$worst idle_rss_mb=$idle_rss peers=$peers demo_rss_mb=$(( demo_kb / 1024 ))"
