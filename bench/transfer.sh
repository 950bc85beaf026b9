#!/usr/bin/env bash
# Transfer benchmark for the file-sharing issue, all on loopback: one file of SIZE_MB MiB
# (default 1024) sent 1 source -> 1 downloader and 4 sources -> 1 downloader with weft,
# against iperf3 (one TCP stream: the physical limit), aria2 over plain HTTP from
# `python3 -m http.server` (HTTP, not BitTorrent: no tracker is used), and libtorrent
# (Debian's python3-libtorrent, one seeder, peers added by hand). Also indexing: `weft share`
# against `b3sum` on the same folder. Prints one table and `RESULT transfer ...` lines;
# asserts nothing. Missing tools are installed with apt-get when possible, else skipped.
# Usage: SIZE_MB=1024 bench/transfer.sh   (or bench/transfer.sh 256; WEFT=path skips the build)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${SIZE_MB:-${1:-1024}}
bench=$PWD/bench
if [ -z "${WEFT:-}" ]; then  # WEFT=/path/to/weft skips the build
  cargo build --release --locked -q -p weft-cli
fi
weft=${WEFT:-${CARGO_TARGET_DIR:-$PWD/target}/release/weft}
py=/usr/bin/python3   # Debian's python, which python3-libtorrent installs into

work=$(mktemp -d /tmp/weft-transfer-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need() { # command apt-package
  command -v "$1" >/dev/null 2>&1 && return 0
  apt-get install -y -q "$2" >/dev/null 2>&1 || true
  command -v "$1" >/dev/null 2>&1
}
now() { date +%s%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }
mbps() { awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.1f", n / 1e6 / s; else print "-" }'; }
free_port() { $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
hwm_mb() { awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
time_rss_mb() { awk -F: '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$1"; }
drop_caches() {
  sync
  if (echo 3 > /proc/sys/vm/drop_caches) 2>/dev/null; then dropped=yes; else dropped=no; fi
}

rows=()
row() { # scenario tool seconds bytes rss_mb [note]
  local rate; rate=$(mbps "$4" "$3")
  rows+=("$(printf '%-10s %-24s %9s %9s %11s  %s' "$1" "$2" "$3" "$rate" "$5" "${6:-}")")
  results+=("RESULT transfer scenario=$1 tool=$2 size_mb=$size_mb seconds=$3 MBps=$rate rss_mb=$5")
}
results=()

mkdir -p "$work/src"
file=$work/src/bench-data.bin
echo "transfer bench: $size_mb MiB file in $work" >&2
head -c "$((size_mb * 1024 * 1024))" /dev/urandom > "$file"
bytes=$(stat -c %s "$file")

# --- iperf3: one TCP stream, the same number of bytes.
if need iperf3 iperf3; then
  port=$(free_port)
  iperf3 -s -1 -B 127.0.0.1 -p "$port" >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 1 50); do ss -ltn 2>/dev/null | grep -q "127.0.0.1:$port " && break; sleep 0.1; done
  iperf3 -c 127.0.0.1 -p "$port" -n "$bytes" -J > "$work/iperf.json"
  read -r isecs ibytes < <($py -c "import json; e=json.load(open('$work/iperf.json'))['end']['sum_received']; print('%.3f %d' % (e['seconds'], e['bytes']))")
  row 1to1 iperf3-tcp-1-stream "$isecs" "$ibytes" -
else
  rows+=("1to1       iperf3                   not installed")
fi

# --- Indexing: b3sum against weft share.
start_node() { # home [extra...]
  local home=$1; shift
  mkdir -p "$home"
  RUST_LOG=warn "$weft" --home "$home" up --listen /ip4/127.0.0.1/tcp/0 --api 127.0.0.1:0 --no-mdns "$@" 2>"$home.log" &
  pids+=($!)
  for _ in $(seq 1 2000); do [ -s "$home/addrs.json" ] && return 0; sleep 0.01; done
  echo "node $home did not start; see $home.log" >&2; exit 1
}
tcp_addr() { $py -c "import json; print([a for a in json.load(open('$1/addrs.json'))['listen'] if '/tcp/' in a][0])"; }

drop_caches
t0=$(now); hash=$(b3sum --no-names "$file"); t1=$(now)
b3=$(secs "$t0" "$t1")
# Every node starts before anything is shared, so that DHT provider records reach the
# downloaders. s0..s3 are the sources, d1 downloads 1 -> 1, d2 downloads 4 -> 1.
start_node "$work/s0"; s0_pid=${pids[-1]}
boot=$(tcp_addr "$work/s0")
for n in s1 s2 s3 d1 d2; do start_node "$work/$n" --bootstrap "$boot"; declare "${n}_pid=${pids[-1]}"; done
sleep 2
drop_caches
t0=$(now); "$weft" --home "$work/s0" share "$work/src" --json > "$work/share.json"; t1=$(now)
wshare=$(secs "$t0" "$t1")
hashed=$($py -c "import json; print(json.load(open('$work/share.json')).get('files_hashed'))")
index_rows=("$(printf '%-10s %-24s %9s %9s %11s  %s' index b3sum "$b3" "$(mbps "$bytes" "$b3")" - "1 file")"
            "$(printf '%-10s %-24s %9s %9s %11s  %s' index "weft share" "$wshare" "$(mbps "$bytes" "$wshare")" "$(hwm_mb "$s0_pid")" "1 file (files_hashed=$hashed), node peak RSS")")
results+=("RESULT transfer scenario=index tool=b3sum size_mb=$size_mb seconds=$b3 MBps=$(mbps "$bytes" "$b3")")
results+=("RESULT transfer scenario=index tool=weft-share size_mb=$size_mb seconds=$wshare MBps=$(mbps "$bytes" "$wshare")")

# Many small files: MANY_FILES (default 2000) files of 32 KiB, on a node of its own.
many=${MANY_FILES:-2000}
mkdir -p "$work/many"
$py -c "
import os
for i in range($many):
    with open(os.path.join('$work/many', 'f%05d.bin' % i), 'wb') as f:
        f.write(os.urandom(32768))"
mbytes=$((many * 32768))
drop_caches
t0=$(now); (cd "$work/many" && find . -type f -print0 | xargs -0 b3sum > /dev/null); t1=$(now)
mb3=$(secs "$t0" "$t1")
start_node "$work/ix"; ix_pid=${pids[-1]}
drop_caches
t0=$(now); "$weft" --home "$work/ix" share "$work/many" --json > /dev/null; t1=$(now)
mws=$(secs "$t0" "$t1")
kill "$ix_pid"; wait "$ix_pid" 2>/dev/null || true
fps() { awk -v n="$many" -v s="$1" 'BEGIN { printf "%.0f", n / s }'; }
index_rows+=("$(printf '%-10s %-24s %9s %9s %11s  %s' index-many b3sum "$mb3" "$(mbps "$mbytes" "$mb3")" - "$many files of 32 KiB: $(fps "$mb3") files/s")"
             "$(printf '%-10s %-24s %9s %9s %11s  %s' index-many "weft share" "$mws" "$(mbps "$mbytes" "$mws")" - "$many files of 32 KiB: $(fps "$mws") files/s")")
results+=("RESULT transfer scenario=index-many tool=b3sum files=$many seconds=$mb3 files_per_s=$(fps "$mb3")")
results+=("RESULT transfer scenario=index-many tool=weft-share files=$many seconds=$mws files_per_s=$(fps "$mws")")

# Waits until HOME's flood search finds the file with at least N sources (bounded).
wait_sources() { # home n
  local found=0
  for _ in $(seq 1 20); do
    found=$("$weft" --home "$1" search bench data --timeout 2 --json 2>/dev/null \
      | $py -c "import json,sys; print(max([r['sources'] for r in json.load(sys.stdin) if r['hash']=='$hash'] or [0]))" 2>/dev/null || echo 0)
    [ "$found" -ge "$2" ] && return 0
  done
  echo "downloader sees $found of $2 sources after 20 searches; going on" >&2
}

weft_get() { # work-dir scenario sources downloader-home downloader-pid
  local home=$4 dpid=$5 out=$1/out.bin
  wait_sources "$home" "$3"
  drop_caches
  local t0 t1; t0=$(now)
  "$weft" --home "$home" get "$hash" -o "$out" --json --timeout 60 > "$1/get.json"
  t1=$(now)
  local s; s=$(secs "$t0" "$t1")
  local used; used=$($py -c "import json; print(json.load(open('$1/get.json'))['sources_used'])")
  if cmp -s "$file" "$out"; then ok=identical; else ok=DIFFERS; fi
  row "$2" weft "$s" "$bytes" "$(hwm_mb "$dpid")" "sources_used=$used, $ok, node peak RSS"
  kill "$dpid"; wait "$dpid" 2>/dev/null || true
  rm -f "$out"
}

# --- weft 1 -> 1.
mkdir -p "$work/w1"; weft_get "$work/w1" 1to1 1 "$work/d1" "$d1_pid"

# --- weft 4 -> 1: three more sources share the same folder.
for i in 1 2 3; do
  "$weft" --home "$work/s$i" share "$work/src" --json > /dev/null
done
mkdir -p "$work/w4"; weft_get "$work/w4" 4to1 4 "$work/d2" "$d2_pid"
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()

# --- aria2 over plain HTTP (python3 -m http.server).
if need aria2c aria2; then
  port=$(free_port)
  $py -m http.server --bind 127.0.0.1 --directory "$work/src" "$port" >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 1 50); do ss -ltn 2>/dev/null | grep -q "127.0.0.1:$port " && break; sleep 0.1; done
  mkdir -p "$work/aria"
  drop_caches
  t0=$(now)
  /usr/bin/time -v -o "$work/aria.time" aria2c -q -x1 -s1 --file-allocation=none \
    -d "$work/aria" -o out.bin "http://127.0.0.1:$port/bench-data.bin"
  t1=$(now)
  cmp -s "$file" "$work/aria/out.bin" && ok=identical || ok=DIFFERS
  row 1to1 aria2-http "$(secs "$t0" "$t1")" "$bytes" "$(time_rss_mb "$work/aria.time")" "plain HTTP from python http.server, $ok"
  rm -rf "$work/aria"
else
  rows+=("1to1       aria2                    not installed")
fi

# --- libtorrent: one seeder, one downloader, peer added by hand.
if $py -c 'import libtorrent' 2>/dev/null || { apt-get install -y -q python3-libtorrent >/dev/null 2>&1 && $py -c 'import libtorrent' 2>/dev/null; }; then
  $py "$bench/libtorrent_transfer.py" make "$file" "$work/bench.torrent"
  $py "$bench/libtorrent_transfer.py" seed "$work/bench.torrent" "$work/src" "$work/lt.port" &
  pids+=($!)
  for _ in $(seq 1 100); do [ -s "$work/lt.port" ] && break; sleep 0.1; done
  mkdir -p "$work/lt"
  drop_caches
  lsecs=$(/usr/bin/time -v -o "$work/lt.time" $py "$bench/libtorrent_transfer.py" get "$work/bench.torrent" "$work/lt" "$(cat "$work/lt.port")")
  cmp -s "$file" "$work/lt/bench-data.bin" && ok=identical || ok=DIFFERS
  row 1to1 libtorrent-$($py -c 'import libtorrent; print(libtorrent.__version__)') "$lsecs" "$bytes" "$(time_rss_mb "$work/lt.time")" "$ok"
else
  rows+=("1to1       libtorrent               python3-libtorrent not installable")
fi

echo
echo "transfer bench: $size_mb MiB ($bytes bytes) on 127.0.0.1; caches dropped: $dropped; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-10s %-24s %9s %9s %11s  %s\n' scenario tool seconds "MB/s" "peak RSS MB" note
printf '%s\n' "${rows[@]}" "${index_rows[@]}"
echo
printf '%s\n' "${results[@]}"
