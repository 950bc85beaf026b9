#!/usr/bin/env bash
# Message figures for the collaboration issue (16), on loopback; prints a table, asserts nothing.
#  1. direct delivery between two connected nodes, N messages one after another: one-way
#     latency (the sender's clock at sealing to the recipient's inbox commit, same host clock)
#     and the round trip the API sees (POST until the end-to-end ack), p50 / p99; beside them
#     libp2p ping's RTT on the same connection (the floor of any request on it);
#  2. store-and-forward: K messages sent while the recipient is down, deposited at 2 mailbox
#     peers, the sender killed; then the time from the recipient's `weft up` to its inbox
#     holding all K, and from its addrs.json (listening) to that.
# Usage: bench/msg.sh [N] [K]     PROFILE=debug bench/msg.sh   (default: release build)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200}
k=${2:-200}
profile=${PROFILE:-release}
if [ "$profile" = release ]; then cargo build --release --locked -q -p weft-cli; else cargo build --locked -q -p weft-cli; fi
weft=${CARGO_TARGET_DIR:-$PWD/target}/$profile/weft
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

start() { # name [extra args...]; sets $last_pid
  local home=$work/$1; shift
  rm -f "$home/addrs.json"
  "$weft" --home "$home" up --listen /ip4/127.0.0.1/tcp/0 --api 127.0.0.1:0 --no-mdns "$@" 2>>"$home.log" &
  last_pid=$!; pids+=($last_pid)
}
wait_addrs() { for _ in $(seq 1 5000); do [ -s "$work/$1/addrs.json" ] && return 0; sleep 0.002; done; return 1; }
field() { python3 -c "import json,sys; d=json.load(open('$work/$1/addrs.json')); print($2)"; }

start m1; wait_addrs m1
boot=$(field m1 "[a for a in d['listen'] if '/tcp/' in a][0]")
start m2 --bootstrap "$boot"; start alice --bootstrap "$boot"; alice_pid=$last_pid
start bob --bootstrap "$boot"; bob_pid=$last_pid
for x in m2 alice bob; do wait_addrs $x; done
sleep 2
"$weft" --home "$work/alice" contact add "$(field bob "d['peer_id']")" bob >/dev/null
"$weft" --home "$work/bob" contact add "$(field alice "d['peer_id']")" alice >/dev/null

python3 - "$work" "$n" "$k" <<'PY' > "$work/direct.out"
import json, sys, time, urllib.request
work, n = sys.argv[1], int(sys.argv[2])
def api(name):
    d = json.load(open(f"{work}/{name}/addrs.json"))
    return d["api"], open(f"{work}/{name}/api.token").read().strip()
def call(name, path, body=None):
    addr, token = api(name)
    req = urllib.request.Request(f"http://{addr}{path}", data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=30))
rtt = []
for i in range(n):
    t0 = time.perf_counter()
    r = call("alice", "/v0/collab/messages", {"to": "bob", "text": f"direct {i}", "wait_ms": 10000})
    rtt.append((time.perf_counter() - t0) * 1000)
    assert r["delivered"], r
msgs = call("bob", "/v0/collab/inbox")["messages"]
one_way = sorted((m["received_us"] - m["sent_us"]) / 1000 for m in msgs[-n:])
rtt.sort()
q = lambda xs, p: xs[min(len(xs) - 1, int(p * len(xs)))]
print(f"{q(one_way,.5):.2f} {q(one_way,.99):.2f} {q(rtt,.5):.2f} {q(rtt,.99):.2f} {len(msgs)}")
PY
read ow50 ow99 rt50 rt99 got < "$work/direct.out"
ping=$("$weft" --home "$work/alice" peers --json | python3 -c "
import json,sys; d=json.load(sys.stdin); bob=json.load(open('$work/bob/addrs.json'))['peer_id']
print(next((p.get('rtt_ms') for p in d['connected'] if p['peer_id']==bob), '-'))")

# 2. store-and-forward
kill -9 "$bob_pid"; wait "$bob_pid" 2>/dev/null || true
python3 - "$work" "$k" <<'PY'
import json, sys, time, urllib.request
work, k = sys.argv[1], int(sys.argv[2])
def call(name, path, body=None):
    d = json.load(open(f"{work}/{name}/addrs.json")); token = open(f"{work}/{name}/api.token").read().strip()
    req = urllib.request.Request(f"http://{d['api']}{path}", data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=30))
for i in range(k):
    call("alice", "/v0/collab/messages", {"to": "bob", "text": f"offline {i}"})
deadline = time.time() + 120
while time.time() < deadline and not all(call(m, "/v0/collab/status")["mailbox_messages"] >= k for m in ("m1", "m2")):
    time.sleep(0.05)
PY
kill -9 "$alice_pid"; wait "$alice_pid" 2>/dev/null || true
before=$(python3 -c "print($got)")
t0=$(date +%s%N)
start bob --bootstrap "$boot"; wait_addrs bob; t1=$(date +%s%N)
python3 - "$work" "$((before + k))" <<'PY' > "$work/back.out"
import json, sys, time, urllib.request
work, want = sys.argv[1], int(sys.argv[2])
d = json.load(open(f"{work}/bob/addrs.json")); token = open(f"{work}/bob/api.token").read().strip()
deadline = time.time() + 120
while time.time() < deadline:
    req = urllib.request.Request(f"http://{d['api']}/v0/collab/inbox?after=0", headers={"Authorization": f"Bearer {token}"})
    try:
        if len(json.load(urllib.request.urlopen(req, timeout=30))["messages"]) >= want: break
    except OSError: pass
    time.sleep(0.01)
print(time.time_ns())
PY
t2=$(cat "$work/back.out")

printf '%-62s %12s\n' "figure ($profile build, loopback)" "measured"
printf '%-62s %9s ms\n' "direct, one-way (sealed -> in the inbox), p50 of $n" "$ow50"
printf '%-62s %9s ms\n' "direct, one-way, p99" "$ow99"
printf '%-62s %9s ms\n' "direct, round trip via the API (POST -> e2e ack), p50" "$rt50"
printf '%-62s %9s ms\n' "direct, round trip via the API, p99" "$rt99"
printf '%-62s %9s ms\n' "libp2p ping RTT on the same connection (the floor)" "$ping"
printf '%-62s %9s ms\n' "recipient back: weft up -> all $k from 2 mailboxes" "$(( (t2 - t0) / 1000000 ))"
printf '%-62s %9s ms\n' "recipient back: listening -> all $k" "$(( (t2 - t1) / 1000000 ))"
