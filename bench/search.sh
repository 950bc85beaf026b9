#!/usr/bin/env bash
# Search benchmark for the file-sharing issue: latency and messages per query of each location
# model (directory, flood, dht) in a local network of NODES `weft up` processes on 127.0.0.1.
#
# Network: node 0 is the directory server (`--role directory`) and everyone's bootstrap peer;
# ULTRAPEERS nodes (default NODES/12, at least 2) are `--role ultrapeer`; the rest are leaves
# with `--directory` (node 0) and a second bootstrap peer, one of the ultrapeers. SHARERS leaves
# share FILES small files each (distinct content and names, two words unique to each file);
# QUERIERS other leaves ask for them: QUERIES rounds per model, each querier asks once a round,
# one query at a time, each for the next file in turn. A further leaf (the probe) first waits
# until every file is found through every model (bounded), so the measured queries do not see
# the network still publishing.
#
# Measured by bench/search_bench.py on each querier's local API (GET /v0/search, streamed):
# latency to the first result, to the expected file, and to the end of the answer; success
# rate; traffic per query: every node's /metrics summed right before each query and again at
# its end (or GRACE s after its first result, for flood, which runs to its timeout):
# `weft_overlay_messages_sent_total{protocol}` if the nodes export it, else bytes of
# `libp2p_bandwidth_bytes_total{direction="Outbound"}`, which the output says. Background
# traffic is not subtracted (it comes in bursts): median and mean per query are shown, and the
# idle network over IDLE windows of GRACE s. CLIENT=cli times `weft search --via X --json`
# instead (no first-result latency: it prints only at the end).
# Prints a table and `RESULT search ...` lines; asserts nothing. Every process started here
# is stopped on exit.
#
# Usage: bench/search.sh        (NODES=50 QUERIES=20 QUERIERS=5 SHARERS=5 FILES=3 TIMEOUT=5
#                                SETTLE=15 IDLE=20 GRACE=1 MODELS="directory flood dht" CLIENT=api;
#                                WEFT=path skips the build)
set -euo pipefail
cd "$(dirname "$0")/.."
nodes=${NODES:-50}
queries=${QUERIES:-20}
files=${FILES:-3}
timeout_s=${TIMEOUT:-5}
settle=${SETTLE:-15}
idle=${IDLE:-20}
grace=${GRACE:-1}
models=${MODELS:-"directory flood dht"}
client=${CLIENT:-api}
ups=${ULTRAPEERS:-$(( nodes / 12 > 2 ? nodes / 12 : 2 ))}
leaves=$((nodes - 1 - ups))
# Defaults shrink for small networks: at most 5 sharers and 5 queriers, one leaf kept as probe.
sharers=${SHARERS:-$(( (leaves - 1) / 2 < 5 ? (leaves - 1) / 2 : 5 ))}
queriers=${QUERIERS:-$(( leaves - 1 - sharers < 5 ? leaves - 1 - sharers : 5 ))}
if [ "$leaves" -lt $((sharers + queriers + 1)) ]; then
  echo "NODES=$nodes is too few for 1 directory, $ups ultrapeers, $sharers sharers, $queriers queriers and a probe" >&2
  exit 2
fi
bench=$PWD/bench
py=/usr/bin/python3
if [ -z "${WEFT:-}" ]; then
  cargo build --release --locked -q -p weft-cli
fi
weft=${WEFT:-${CARGO_TARGET_DIR:-$PWD/target}/release/weft}

work=$(mktemp -d /tmp/weft-search-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # Bounded: anything still alive after 10 s is killed hard.
  for _ in $(seq 1 100); do
    alive=0; for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1 && break; done
    [ "$alive" = 0 ] && break; sleep 0.1
  done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

launch() { # name [extra...]: starts a node in the background
  local home=$work/$1; shift
  mkdir -p "$home"
  RUST_LOG=warn "$weft" --home "$home" up --listen /ip4/127.0.0.1/tcp/0 --api 127.0.0.1:0 --no-mdns "$@" \
    </dev/null >/dev/null 2>"$home.log" &
  pids+=($!)
}
wait_ready() { # name
  for _ in $(seq 1 6000); do [ -s "$work/$1/addrs.json" ] && return 0; sleep 0.01; done
  echo "node $1 did not start in 60 s; see $work/$1.log:" >&2; tail -5 "$work/$1.log" >&2; exit 1
}
tcp_addr() { $py -c "import json; print([a for a in json.load(open('$work/$1/addrs.json'))['listen'] if '/tcp/' in a][0])"; }

echo "search bench: $nodes nodes (1 directory, $ups ultrapeers, $leaves leaves) in $work" >&2
t_start=$(date +%s)
launch n00 --role directory
wait_ready n00
dir=$(tcp_addr n00)
names=(n00)
up_addrs=()
for i in $(seq 1 "$ups"); do
  n=$(printf 'n%02d' "$i"); names+=("$n")
  launch "$n" --role ultrapeer --bootstrap "$dir"
done
for n in "${names[@]:1}"; do wait_ready "$n"; up_addrs+=("$(tcp_addr "$n")"); done
# Leaves in batches of 10, so that 2 cores are not swamped by start-ups.
leaf_names=()
for i in $(seq $((ups + 1)) $((nodes - 1))); do
  n=$(printf 'n%02d' "$i"); names+=("$n"); leaf_names+=("$n")
  launch "$n" --directory "$dir" --bootstrap "$dir" --bootstrap "${up_addrs[$(( i % ups ))]}"
  if [ $(( ${#leaf_names[@]} % 10 )) = 0 ]; then for m in "${leaf_names[@]: -10}"; do wait_ready "$m"; done; fi
done
for n in "${leaf_names[@]}"; do wait_ready "$n"; done
echo "all $nodes nodes up in $(( $(date +%s) - t_start )) s; settling ${settle} s" >&2
sleep "$settle"

# Roles among the leaves: sharers, queriers, one probe.
share_nodes=("${leaf_names[@]:0:$sharers}")
query_nodes=("${leaf_names[@]:$sharers:$queriers}")
probe=${leaf_names[$((sharers + queriers))]}

# Files: two words unique to each file (fixed width, so no word is a prefix of another).
targets=$work/targets.jsonl
: > "$targets"
k=0
for s in "${share_nodes[@]}"; do
  mkdir -p "$work/$s/files"
  for j in $(seq 1 "$files"); do
    w1=$(printf 'amber%03d' "$k"); w2=$(printf 'falcon%03d' "$k")
    f=$work/$s/files/$w1-$w2.dat
    head -c $(( 4096 + k * 512 )) /dev/urandom > "$f"
    printf '{"words": "%s %s", "hash": "%s", "node": "%s"}\n' "$w1" "$w2" "$(b3sum --no-names "$f")" "$s" >> "$targets"
    k=$((k + 1))
  done
  timeout 60 "$weft" --home "$work/$s" share "$work/$s/files" --json > "$work/$s.share.json"
done
echo "shared $k files on ${#share_nodes[@]} nodes" >&2

$py - "$work" "$nodes" "$queries" "$timeout_s" "$idle" "$grace" "$client" "$weft" "$models" \
  "${names[*]}" "${query_nodes[*]}" > "$work/config.json" <<'EOF'
import json, sys
work, nodes, queries, timeout, idle, grace, client, weft, models, names, queriers = sys.argv[1:]
print(json.dumps({
    "nodes": [f"{work}/{n}" for n in names.split()],
    "queriers": [f"{work}/{n}" for n in queriers.split()],
    "targets": [json.loads(l) for l in open(f"{work}/targets.jsonl")],
    "models": models.split(), "queries": int(queries), "timeout": int(timeout),
    "idle": int(idle), "grace": float(grace), "client": client, "weft": weft,
}))
EOF
# Warm-up from the probe: every file through every model (bounded: 20 tries per file and model).
warm_limit=$(( $(wc -w <<< "$models") * k * 20 * (timeout_s + 16) ))
timeout "$warm_limit" $py "$bench/search_bench.py" warm "$work/config.json" "$work/$probe" > "$work/warm.txt" \
  || echo "warm-up failed or timed out (rc $?)" >&2
cat "$work/warm.txt" >&2
mapfile -t warm_rows < "$work/warm.txt"

# Connectivity before measuring.
peer_counts=$(for n in "${names[@]}"; do
  timeout 10 "$weft" --home "$work/$n" peers --json 2>/dev/null | $py -c "import json,sys; print(len(json.load(sys.stdin)['connected']))" 2>/dev/null || echo 0
done | sort -n | tr '\n' ' ')

# Bounded: each query ends by its timeout plus slack.
limit=$(( idle * 10 + 60 + $(wc -w <<< "$models") * queries * queriers * (timeout_s + 25) ))
timeout "$limit" $py "$bench/search_bench.py" "$work/config.json" > "$work/out.txt" || echo "search_bench.py failed or timed out (rc $?)" >&2

echo
printf '%s\n' "${warm_rows[@]}"
read -r -a pc <<< "$peer_counts"
echo "connected peers per node: min ${pc[0]}, median ${pc[$(( ${#pc[@]} / 2 ))]}, max ${pc[-1]}; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
grep -v '^RESULT' "$work/out.txt" | sed '/^$/d' || true
echo
printf 'RESULT search_setup nodes=%s ultrapeers=%s sharers=%s files=%s queriers=%s timeout_s=%s peers_min=%s peers_median=%s\n' \
  "$nodes" "$ups" "$sharers" "$k" "$queriers" "$timeout_s" "${pc[0]}" "${pc[$(( ${#pc[@]} / 2 ))]}"
grep '^RESULT' "$work/out.txt" || true
