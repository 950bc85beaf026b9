#!/usr/bin/env bash
# Transfer benchmark for the file-sharing issue, all on 127.0.0.1: one file of SIZE_MB MiB
# (default 1024) sent in three scenarios,
#   1to1  1 source  -> 1 downloader
#   4to1  4 sources -> 1 downloader
#   1to4  1 source  -> 4 downloaders at once (aggregate MB/s = 4 x size / slowest completion)
# with these tools:
#   weft        `weft up` nodes (bootstrap, flood search until the sources are seen), `weft get`
#   aria2-bt    aria2 as a BitTorrent client, peers found through a local `opentracker`
#               (Debian's package; its build only tracks whitelisted torrents, so the info hash
#               is written to a whitelist). The .torrent is made with `mktorrent`. DHT, LPD off.
#   libtorrent  Debian's python3-libtorrent (bench/libtorrent_transfer.py): no tracker, peers
#               added by hand (in 1to4 the downloaders also connect to each other by hand)
#   aria2-http  1to1 only: aria2 over plain HTTP from `python3 -m http.server` -- NOT BitTorrent
#   iperf3      the physical limit: `iperf3 -c 127.0.0.1`, one TCP stream (and, for 4to1/1to4,
#               4 parallel streams), the same number of bytes
#   tls         the limit with encryption: the file over one TLS 1.3 connection, memory to
#               memory, OpenSSL through Python's ssl (bench/tls_stream.py), no hashing, no disk
#   stack       weft's own connection stack, layer by layer, memory to memory, no hashing, no
#               disk (crates/weft-net/examples/stream_bench.rs): tcp (tokio), tls (weft's TLS
#               upgrade: rustls, AES-GCM), libp2p (a whole weft swarm: TCP + TLS + weft's
#               yamux, one libp2p stream) -- what a transfer pays before weft's own work
# and `index`: indexing with `weft share` against `b3sum`, one big file and MANY_FILES (2000)
# files of 32 KiB (files/s, MB/s). The peak RSS column is the downloader's (for weft the whole
# node's VmHWM; in 1to4 the largest of the four).
# Prints one table and `RESULT transfer ...` lines; asserts nothing. Missing tools are
# installed (Debian packages with apt-get; b3sum with `cargo install` where apt-get cannot) and
# named on stderr and under the table; a tool that cannot be installed is reported and its rows
# skipped, and the bench stops with one line if it lacks what every run needs (python3, b3sum,
# ss, cmp).
#
# Usage: SIZE_MB=1024 bench/transfer.sh          (or bench/transfer.sh 256)
#   RUNS=3             runs of each scenario with each tool (default 3): the table shows the
#                      fastest, the median and the slowest, so that a slow tail cannot hide
#                      behind one good run; every run has its RESULT line
#   TIMELINES=slow     per-source timelines of weft's downloads (bytes per half second,
#                      stalls, broken streams, timeouts, cool-downs, rediscovery, inbound
#                      streams the sources dropped): `slow` (default) prints them for every run
#                      at least 1.3 x the scenario's fastest, `all` for every run, `none` never
#   SCENARIOS="1to1 4to1 1to4 index"   which scenarios (default all of them)
#   TOOLS="iperf3 tls stack weft aria2-bt libtorrent aria2-http"   which tools (default all)
#   PIECE_KB=1024      BitTorrent piece size for both torrents (libtorrent and aria2)
#   WEFT=path          use this weft binary instead of building one
# Disk: the source file plus, in 1to4, four copies at once (5 x SIZE_MB MiB under /tmp).
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${SIZE_MB:-${1:-1024}}
scenarios=${SCENARIOS:-"1to1 4to1 1to4 index"}
tools=${TOOLS:-"iperf3 tls stack weft aria2-bt libtorrent aria2-http"}
piece_kb=${PIECE_KB:-1024}
runs=${RUNS:-3}
timelines=${TIMELINES:-slow}
case "$runs" in ''|*[!0-9]*|0) echo "RUNS must be a positive number (got '$runs')" >&2; exit 2 ;; esac
case "$timelines" in slow|all|none) ;; *) echo "TIMELINES must be slow, all or none" >&2; exit 2 ;; esac
bench=$PWD/bench
py=/usr/bin/python3   # Debian's python, which python3-libtorrent installs into

has() { case " $2 " in *" $1 "*) return 0 ;; esac; return 1; }
want() { has "$1" "$scenarios"; }   # scenario
tool() { has "$1" "$tools"; }       # tool
for s in $scenarios; do
  has "$s" "1to1 4to1 1to4 index" || { echo "unknown scenario '$s' (1to1 4to1 1to4 index)" >&2; exit 2; }
done
for t in $tools; do
  has "$t" "iperf3 tls stack weft aria2-bt libtorrent aria2-http" || { echo "unknown tool '$t'" >&2; exit 2; }
done
transfers=""; for s in 1to1 4to1 1to4; do want "$s" && transfers="$transfers $s"; done
use_weft=no
if { tool weft && [ -n "$transfers" ]; } || want index; then use_weft=yes; fi

if [ "$use_weft" = yes ] && [ -z "${WEFT:-}" ]; then
  cargo build --release --locked -q -p weft-cli
fi
weft=${WEFT:-${CARGO_TARGET_DIR:-$PWD/target}/release/weft}
get_limit=$((300 + size_mb))   # seconds any one download may take before it is abandoned

work=$(mktemp -d /tmp/weft-transfer-XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Installing what is missing: Debian packages with apt-get (its lists refreshed once, before the
# first install), crates with `cargo install`; each one installed is said on stderr and again
# under the table.
installed=()
apt_refreshed=no
apt_install() { # package
  command -v apt-get >/dev/null 2>&1 || return 1
  if [ "$apt_refreshed" = no ]; then
    apt-get update -qq >>"$work/install.log" 2>&1 || true
    apt_refreshed=yes
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >>"$work/install.log" 2>&1
}
cargo_install() { # crate command
  command -v cargo >/dev/null 2>&1 || return 1
  cargo install --locked -q "$1" >>"$work/install.log" 2>&1 || return 1
  export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
  command -v "$2" >/dev/null 2>&1
}
# Succeeds when COMMAND runs (the full path for one outside PATH), installing it first from the
# Debian package, else from the crate when one is named; says what it did.
need() { # command apt-package [crate]
  command -v "$1" >/dev/null 2>&1 && return 0
  echo "transfer bench: $1 is missing; installing the Debian package $2" >&2
  if apt_install "$2" && command -v "$1" >/dev/null 2>&1; then
    installed+=("$2 (apt-get, for $1)"); echo "transfer bench: installed $2" >&2; return 0
  fi
  if [ -n "${3:-}" ]; then
    echo "transfer bench: apt-get could not install $2; building the crate $3 with cargo install" >&2
    if cargo_install "$3" "$1"; then
      installed+=("$3 (cargo install, for $1)"); echo "transfer bench: installed $3" >&2; return 0
    fi
  fi
  echo "transfer bench: cannot install $1 (see $work/install.log)" >&2
  return 1
}
# Like need, for what every run uses: without it the bench stops here with that one line.
require() { # command apt-package [crate]
  need "$@" || { echo "transfer bench: $1 is needed; install it and run again" >&2; exit 1; }
}
require "$py" python3
require b3sum b3sum b3sum
require ss iproute2
require cmp diffutils
now() { date +%s%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }
mbps() { awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.1f", n / 1e6 / s; else print "-" }'; }
free_port() { $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
hwm_mb() { awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo -; }
max_of() { printf '%s\n' "$@" | { grep -v '^-$' || true; } | sort -g | tail -1; }
min_of() { printf '%s\n' "$@" | { grep -v '^-$' || true; } | sort -g | head -1; }
listening() { ss -ltn 2>/dev/null | grep -q "127.0.0.1:$1 "; }
wait_listen() { for _ in $(seq 1 100); do listening "$1" && return 0; sleep 0.1; done; return 1; }
drop_caches() {
  sync
  if (echo 3 > /proc/sys/vm/drop_caches) 2>/dev/null; then dropped=yes; else dropped=no; fi
}
dropped=no

rows=()
results=()
# Runs of each (scenario, tool), in the order first seen: their seconds, and the bytes, peak
# RSS (the largest) and note of the last run.
declare -A run_secs run_bytes run_rss run_note
run_keys=()
run_no=1   # the run being measured, for the RESULT lines
fmt() { printf '%-10s %-24s %4s %8s %8s %8s %9s %11s  %s' "$@"; }
row() { # scenario tool seconds bytes rss_mb [note [more RESULT fields]]
  local k="$1|$2" rate; rate=$(mbps "$4" "$3")
  [ -n "${run_secs[$k]+set}" ] || run_keys+=("$k")
  run_secs[$k]="${run_secs[$k]:-} $3"
  run_bytes[$k]=$4
  run_note[$k]=${6:-}
  run_rss[$k]=$(max_of "${run_rss[$k]:--}" "$5"); [ -z "${run_rss[$k]}" ] && run_rss[$k]=-
  results+=("RESULT transfer scenario=$1 tool=$2 size_mb=$size_mb run=$run_no seconds=$3 MBps=$rate rss_mb=$5${7:+ $7}")
}
# min, median and max of numbers (dashes, failed runs, left out), or dashes.
spread() {
  printf '%s\n' "$@" | { grep -v '^-$' || true; } | sort -g | awk '
    { v[NR] = $1 }
    END { if (NR == 0) { print "- - -"; exit }
          m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
          printf "%s %.3f %s\n", v[1], m, v[NR] }'
}
# The table's rows: one per (scenario, tool) with its runs' spread.
summarize() {
  local k sc tool n lo med hi
  for k in "${run_keys[@]}"; do
    sc=${k%%|*}; tool=${k#*|}
    # shellcheck disable=SC2086
    set -- ${run_secs[$k]}
    n=$(printf '%s\n' "$@" | grep -vc '^-$' || true)
    read -r lo med hi < <(spread "$@")
    rows+=("$(fmt "$sc" "$tool" "$n/$#" "$lo" "$med" "$hi" "$(mbps "${run_bytes[$k]}" "$med")" "${run_rss[$k]}" "${run_note[$k]}")")
    results+=("RESULT transfer-spread scenario=$sc tool=$tool size_mb=$size_mb runs=$# ok=$n min_s=$lo median_s=$med max_s=$hi")
  done
}
# One row for a run of N downloaders whose times are in secs_all and peak RSS in rss_all (the
# caller's arrays): seconds = the slowest, MB/s = N x the file over that, each one's time in
# the note.
swarm_row() { # scenario tool downloaders note [how the downloaders met]
  # A run in which any downloader failed has no time.
  local slow; slow=$(max_of "${secs_all[@]}"); [ -z "$slow" ] && slow=-
  case " ${secs_all[*]} " in *" - "*) slow=- ;; esac
  local note=$4
  if [ "$3" -gt 1 ]; then
    note="$3 downloaders${5:+ ($5)}, MB/s aggregate; each $(printf "%s\n" "${secs_all[@]}" | sort -g | paste -sd/)s; $note"
  fi
  row "$1" "$2" "$slow" "$(($3 * bytes))" "$(max_of "${rss_all[@]}")" "$note" \
    "downloaders=$3 fastest_s=$(min_of "${secs_all[@]}")"
}
skip() { rows+=("$(fmt "$1" "$2" - - - - - - "$3")"); }   # scenario tool why

mkdir -p "$work/src"
file=$work/src/bench-data.bin
echo "transfer bench: $size_mb MiB file in $work; scenarios: $scenarios; tools: $tools" >&2
head -c "$((size_mb * 1024 * 1024))" /dev/urandom > "$file"
bytes=$(stat -c %s "$file")
hash=$(b3sum --no-names "$file")
# Three more folders holding the same file (hard links) for the 4-seeder BitTorrent runs.
for i in 1 2 3; do mkdir -p "$work/src$i"; ln "$file" "$work/src$i/bench-data.bin"; done

# --- iperf3: the physical limit.
iperf() { # streams scenario-label
  local port; port=$(free_port)
  iperf3 -s -1 -B 127.0.0.1 -p "$port" >/dev/null 2>&1 &
  pids+=($!)
  wait_listen "$port" || true
  timeout 120 iperf3 -c 127.0.0.1 -p "$port" -P "$1" -n "$(($1 * bytes))" -J > "$work/iperf.json"
  read -r isecs ibytes < <($py -c "import json; e=json.load(open('$work/iperf.json'))['end']['sum_received']; print('%.3f %d' % (e['seconds'], e['bytes']))")
  row "$2" "iperf3-tcp-$1-stream" "$isecs" "$ibytes" - "physical limit: $1 TCP stream(s), $1 x the file's bytes"
}
if [ -n "$transfers" ] && tool iperf3; then
  if need iperf3 iperf3; then
    for run_no in $(seq 1 "$runs"); do
      iperf 1 limit
      if want 4to1 || want 1to4; then iperf 4 limit; fi
    done
  else
    skip limit iperf3 "not installed"
  fi
fi

# --- One TLS stream: the limit with encryption (a throwaway self-signed certificate).
if [ -n "$transfers" ] && tool tls; then
  if need openssl openssl; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=bench \
      -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
    for run_no in $(seq 1 "$runs"); do
      if read -r tsecs tbytes tcipher < <($py "$bench/tls_stream.py" "$file" "$work/tls.crt" "$work/tls.key"); then
        row limit "tls-1-stream" "$tsecs" "$tbytes" - "limit with encryption: 1 TLS 1.3 stream ($tcipher), memory to memory"
      else
        row limit "tls-1-stream" - "$bytes" - "bench/tls_stream.py failed"
      fi
    done
  else
    skip limit tls "openssl not installed"
  fi
fi

# --- weft's connection stack, layer by layer (its own sender and receiver processes).
if [ -n "$transfers" ] && tool stack; then
  stack_bin=${CARGO_TARGET_DIR:-$PWD/target}/release/examples/stream_bench
  if cargo build --release --locked -q -p weft-net --example stream_bench; then
    for run_no in $(seq 1 "$runs"); do
      for layer in tcp tls libp2p; do
        if line=$(timeout 120 "$stack_bin" "$layer" "$size_mb" | grep '^RESULT stream'); then
          ssecs=$(sed -E 's/.* seconds=([^ ]+).*/\1/' <<<"$line")
          scpu=$(sed -E 's/.* sender_cpu_s=([^ ]+) receiver_cpu_s=([^ ]+).*/\1 s sender, \2 s receiver/' <<<"$line")
          row limit "weft-$layer-stream" "$ssecs" "$bytes" - "weft's stack up to $layer, memory to memory; CPU $scpu"
        else
          row limit "weft-$layer-stream" - "$bytes" - "stream_bench failed"
        fi
      done
    done
  else
    skip limit stack "cannot build the stream_bench example"
  fi
fi

# --- weft nodes: s0 is the source (s1..s3 too in 4to1), started before anything is shared;
# each run of a scenario starts fresh downloaders (d1 downloads 1 -> 1, d2 4 -> 1, q1..q4
# 1 -> 4; named NAME-rRUN) and stops them after it, so that no run finds the file on an
# earlier run's downloader. Downloaders log their per-source timeline (weft::timeline), the
# sources the inbound streams libp2p-stream drops.
source_log="warn,libp2p_stream=debug"
downloader_log="warn,weft::timeline=debug"
start_node() { # log-filter home [extra...]
  local filter=$1 home=$2; shift 2
  mkdir -p "$home"
  RUST_LOG=$filter "$weft" --home "$home" up --listen /ip4/127.0.0.1/tcp/0 --api 127.0.0.1:0 --no-mdns "$@" 2>"$home.log" &
  pids+=($!)
  for _ in $(seq 1 2000); do [ -s "$home/addrs.json" ] && return 0; sleep 0.01; done
  echo "node $home did not start; see $home.log" >&2; exit 1
}
tcp_addr() { $py -c "import json; print([a for a in json.load(open('$1/addrs.json'))['listen'] if '/tcp/' in a][0])"; }
declare -A node_pid
weft_transfers=no; { tool weft && [ -n "$transfers" ]; } && weft_transfers=yes
if [ "$use_weft" = yes ]; then
  start_node "$source_log" "$work/s0"; node_pid[s0]=${pids[-1]}
  boot=$(tcp_addr "$work/s0")
  if [ "$weft_transfers" = yes ] && want 4to1; then
    for n in s1 s2 s3; do
      start_node "$source_log" "$work/$n" --bootstrap "$boot"; node_pid[$n]=${pids[-1]}
    done
  fi
fi

# --- Indexing: b3sum against weft share.
index_rows=()
if [ "$use_weft" = yes ]; then
  drop_caches
  t0=$(now); b3sum --no-names "$file" > /dev/null; t1=$(now)
  b3=$(secs "$t0" "$t1")
  drop_caches
  t0=$(now); "$weft" --home "$work/s0" share "$work/src" --json > "$work/share.json"; t1=$(now)
  wshare=$(secs "$t0" "$t1")
  hashed=$($py -c "import json; print(json.load(open('$work/share.json')).get('files_hashed'))")
  if want index; then
    index_rows+=("$(fmt index b3sum "$b3" "$(mbps "$bytes" "$b3")" - "1 file")"
                 "$(fmt index "weft share" "$wshare" "$(mbps "$bytes" "$wshare")" "$(hwm_mb "${node_pid[s0]}")" "1 file (files_hashed=$hashed), node peak RSS")")
    results+=("RESULT transfer scenario=index tool=b3sum size_mb=$size_mb seconds=$b3 MBps=$(mbps "$bytes" "$b3")")
    results+=("RESULT transfer scenario=index tool=weft-share size_mb=$size_mb seconds=$wshare MBps=$(mbps "$bytes" "$wshare")")
  fi
fi
if want index; then
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
  start_node warn "$work/ix"; ix_pid=${pids[-1]}
  drop_caches
  t0=$(now); "$weft" --home "$work/ix" share "$work/many" --json > /dev/null; t1=$(now)
  mws=$(secs "$t0" "$t1")
  kill "$ix_pid"; wait "$ix_pid" 2>/dev/null || true
  fps() { awk -v n="$many" -v s="$1" 'BEGIN { printf "%.0f", n / s }'; }
  index_rows+=("$(fmt index-many b3sum "$mb3" "$(mbps "$mbytes" "$mb3")" - "$many files of 32 KiB: $(fps "$mb3") files/s")"
               "$(fmt index-many "weft share" "$mws" "$(mbps "$mbytes" "$mws")" - "$many files of 32 KiB: $(fps "$mws") files/s")")
  results+=("RESULT transfer scenario=index-many tool=b3sum files=$many seconds=$mb3 files_per_s=$(fps "$mb3")")
  results+=("RESULT transfer scenario=index-many tool=weft-share files=$many seconds=$mws files_per_s=$(fps "$mws")")
  rm -rf "$work/many"
fi

# Waits until HOME's flood search finds the file with at least N sources (bounded).
wait_sources() { # home n
  local found=0
  for _ in $(seq 1 20); do
    found=$(timeout 20 "$weft" --home "$1" search bench data --timeout 2 --json 2>/dev/null \
      | $py -c "import json,sys; print(max([r['sources'] for r in json.load(sys.stdin)['results'] if r['hash']=='$hash'] or [0]))" 2>/dev/null || echo 0)
    [ "$found" -ge "$2" ] && return 0
  done
  echo "$(basename "$1") sees $found of $2 sources after 20 searches; going on" >&2
}
stop_node() { kill "${node_pid[$1]}" 2>/dev/null || true; wait "${node_pid[$1]}" 2>/dev/null || true; }

# RUNS runs of a weft scenario, each with fresh downloaders; then the per-source timelines of
# the slow runs (TIMELINES).
timeline_out=()
weft_scenario() { # scenario sources downloader...
  local sc=$1 nsrc=$2; shift 2
  local d names run_times=() slowest=()
  for run_no in $(seq 1 "$runs"); do
    names=()
    for d in "$@"; do
      names+=("$d-r$run_no")
      start_node "$downloader_log" "$work/$d-r$run_no" --bootstrap "$boot"
      node_pid[$d-r$run_no]=${pids[-1]}
    done
    weft_run "$sc" "$nsrc" "${names[@]}"
    run_times+=("$weft_slow"); slowest+=("$weft_slowest")
  done
  [ "$timelines" = none ] && return
  local fastest; fastest=$(min_of "${run_times[@]}")
  local i srcs=("$work/s0.log"); [ "$nsrc" -gt 1 ] && srcs+=("$work/s1.log" "$work/s2.log" "$work/s3.log")
  for i in "${!run_times[@]}"; do
    local t=${run_times[$i]}
    if [ "$timelines" = all ] || [ "$t" = - ] || [ -z "$fastest" ] ||
       awk -v t="$t" -v f="$fastest" 'BEGIN { exit !(t >= 1.3 * f) }'; then
      timeline_out+=("$sc run $((i + 1)): ${t}s (fastest ${fastest:--}s), downloader ${slowest[$i]}"
                     "$($py "$bench/timeline.py" "$work/${slowest[$i]}.log" "${srcs[@]}" 2>&1)")
    fi
  done
}

# One run: downloads with weft on the downloaders named, timed from one start; sets weft_slow
# (seconds of the slowest, or -) and weft_slowest (its name).
weft_run() { # scenario sources downloader...
  local sc=$1 nsrc=$2; shift 2
  local d secs_all=() rss_all=() used_all=() ok=identical gp=() ends=()
  for d in "$@"; do wait_sources "$work/$d" "$nsrc"; done
  drop_caches
  local t0; t0=$(now)
  for d in "$@"; do
    ( timeout "$get_limit" "$weft" --home "$work/$d" get "$hash" -o "$work/$d.out" --json --timeout 60 \
        > "$work/$d.get.json" 2> "$work/$d.get.err"; echo $? > "$work/$d.rc"; now > "$work/$d.end" ) &
    gp+=($!)
  done
  for p in "${gp[@]}"; do wait "$p" || true; done
  for d in "$@"; do
    if [ "$(cat "$work/$d.rc")" != 0 ]; then
      ok="FAILED ($d: $(head -c 200 "$work/$d.get.err"))"; secs_all+=(-)
    else
      secs_all+=("$(secs "$t0" "$(cat "$work/$d.end")")")
      used_all+=("$($py -c "import json; print(json.load(open('$work/$d.get.json'))['sources_used'])")")
      cmp -s "$file" "$work/$d.out" || ok=DIFFERS
    fi
    rss_all+=("$(hwm_mb "${node_pid[$d]}")")
    rm -f "$work/$d.out"
  done
  swarm_row "$sc" weft $# "sources_used=$(IFS=,; echo "${used_all[*]:-}"), $ok, node peak RSS"
  weft_slow=$(max_of "${secs_all[@]}"); [ -z "$weft_slow" ] && weft_slow=-
  weft_slowest=$1
  local i; for i in "${!secs_all[@]}"; do
    [ "${secs_all[$i]}" = "$weft_slow" ] && weft_slowest=${*:$((i + 1)):1}
  done
  [ "$ok" = identical ] || weft_slow=-
  for d in "$@"; do stop_node "$d"; done   # they share the file now: no extra sources later
}

if [ "$weft_transfers" = yes ]; then
  want 1to1 && weft_scenario 1to1 1 d1
  want 1to4 && weft_scenario 1to4 1 q1 q2 q3 q4
  if want 4to1; then
    for i in 1 2 3; do "$weft" --home "$work/s$i" share "$work/src" --json > /dev/null; done
    weft_scenario 4to1 4 d2
  fi
fi
run_no=1
if [ "$use_weft" = yes ]; then
  for n in "${!node_pid[@]}"; do stop_node "$n"; done
fi

# --- aria2 over plain HTTP (python3 -m http.server): not BitTorrent.
if want 1to1 && tool aria2-http; then
  if need aria2c aria2 && need /usr/bin/time time; then
    port=$(free_port)
    $py -m http.server --bind 127.0.0.1 --directory "$work/src" "$port" >/dev/null 2>&1 &
    http_pid=$!; pids+=($http_pid)
    wait_listen "$port" || true
    for run_no in $(seq 1 "$runs"); do
      mkdir -p "$work/aria"
      drop_caches
      t0=$(now)
      timeout "$get_limit" /usr/bin/time -v -o "$work/aria.time" aria2c -q -x1 -s1 --file-allocation=none \
        -d "$work/aria" -o out.bin "http://127.0.0.1:$port/bench-data.bin" || true
      t1=$(now)
      cmp -s "$file" "$work/aria/out.bin" && ok=identical || ok=DIFFERS
      rss=$(awk -F: '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$work/aria.time")
      tsec=$(secs "$t0" "$t1"); [ "$ok" = identical ] || tsec=-
      row 1to1 aria2-http-not-bt "$tsec" "$bytes" "$rss" "plain HTTP from python http.server, one connection, $ok"
      rm -rf "$work/aria"
    done
    run_no=1
    kill "$http_pid" 2>/dev/null || true
  else
    skip 1to1 aria2-http "aria2 or GNU time not installable"
  fi
fi

piece_bytes=$((piece_kb * 1024))
piece_exp=$($py -c "print(($piece_bytes).bit_length() - 1)")
# All seeders must be gone before the next scenario: they would be extra sources.
stop_all() { for p in "$@"; do kill "$p" 2>/dev/null || true; done; for p in "$@"; do wait "$p" 2>/dev/null || true; done; }

# --- aria2 as a BitTorrent client with a local opentracker.
bt_aria2() { # scenario seeders leechers
  local sc=$1 ns=$2 nl=$3 i dir tport ps=() pl=() rss_all=() secs_all=() ok=identical
  rm -rf "$work/ot" "$work/bt"; mkdir -p "$work/ot" "$work/bt"
  tport=$(free_port)
  # The torrent names this run's tracker; Debian's opentracker only tracks whitelisted hashes.
  rm -f "$work/bt.torrent"
  mktorrent -l "$piece_exp" -a "http://127.0.0.1:$tport/announce" -o "$work/bt.torrent" "$file" >/dev/null
  bt_ih=$(aria2c -S "$work/bt.torrent" | awk '/^Info Hash:/ { print $3 }')
  echo "$bt_ih" > "$work/ot/whitelist.txt"
  # As root opentracker chroots into -d and drops to nobody: the whitelist path is inside it.
  local wl=$work/ot/whitelist.txt; [ "$(id -u)" = 0 ] && wl=/whitelist.txt
  (cd "$work/ot" && exec opentracker -i 127.0.0.1 -p "$tport" -P "$tport" -d "$work/ot" -w "$wl") > "$work/bt/ot.log" 2>&1 &
  local ot=$!; pids+=($ot)
  if ! wait_listen "$tport"; then skip "$sc" aria2-bt "opentracker did not start: $(head -c 200 "$work/bt/ot.log")"; stop_all "$ot"; return; fi
  local common=(--enable-dht=false --enable-dht6=false --bt-enable-lpd=false --interface=127.0.0.1
                --file-allocation=none --console-log-level=warn --summary-interval=0 --seed-ratio=0.0
                --bt-save-metadata=false --auto-save-interval=0)
  for i in $(seq 0 $((ns - 1))); do
    dir=$work/src; [ "$i" -gt 0 ] && dir=$work/src$i
    aria2c "${common[@]}" --listen-port="$(free_port)" --bt-seed-unverified=true --check-integrity=false \
      -d "$dir" "$work/bt.torrent" > "$work/bt/seed$i.log" 2>&1 &
    ps+=($!); pids+=($!)
  done
  # Wait until the tracker counts every seeder.
  local seen=0
  for _ in $(seq 1 150); do
    seen=$($py -c "
import re, urllib.parse, urllib.request
u = 'http://127.0.0.1:$tport/scrape?info_hash=' + urllib.parse.quote(bytes.fromhex('$bt_ih'))
m = re.search(rb'8:completei(\d+)e', urllib.request.urlopen(u, timeout=2).read())
print(int(m.group(1)) if m else 0)" 2>/dev/null || echo 0)
    [ "$seen" -ge "$ns" ] && break
    sleep 0.2
  done
  [ "$seen" -ge "$ns" ] || echo "aria2-bt $sc: tracker sees $seen of $ns seeders; going on" >&2
  drop_caches
  local t0; t0=$(now)
  for i in $(seq 1 "$nl"); do
    mkdir -p "$work/bt/out$i"
    printf '#!/bin/sh\ndate +%%s%%N > %s\n' "$work/bt/done$i.tmp" > "$work/bt/hook$i.sh"
    printf 'mv %s %s\n' "$work/bt/done$i.tmp" "$work/bt/done$i" >> "$work/bt/hook$i.sh"
    chmod +x "$work/bt/hook$i.sh"
    aria2c "${common[@]}" --listen-port="$(free_port)" --on-bt-download-complete="$work/bt/hook$i.sh" \
      -d "$work/bt/out$i" "$work/bt.torrent" > "$work/bt/leech$i.log" 2>&1 &
    pl+=($!); pids+=($!)
  done
  # Leechers keep seeding (to each other) until all are done.
  local deadline=$(( $(date +%s) + get_limit )) n
  while [ "$(date +%s)" -lt "$deadline" ]; do
    n=0; for i in $(seq 1 "$nl"); do [ -s "$work/bt/done$i" ] && n=$((n + 1)); done
    [ "$n" -ge "$nl" ] && break
    for p in "${pl[@]}"; do kill -0 "$p" 2>/dev/null || break 2; done
    sleep 0.05
  done
  for i in $(seq 1 "$nl"); do
    rss_all+=("$(hwm_mb "${pl[$((i - 1))]}")")
    if [ -s "$work/bt/done$i" ]; then
      secs_all+=("$(secs "$t0" "$(cat "$work/bt/done$i")")")
    else
      secs_all+=(-); ok="FAILED (leecher $i: $(tail -c 200 "$work/bt/leech$i.log"))"
    fi
  done
  stop_all "${pl[@]}" "${ps[@]}" "$ot"
  for i in $(seq 1 "$nl"); do
    [ -s "$work/bt/done$i" ] && { cmp -s "$file" "$work/bt/out$i/bench-data.bin" || ok=DIFFERS; }
  done
  swarm_row "$sc" aria2-bt "$nl" "$ns seeder(s), opentracker, ${piece_kb} KiB pieces, $ok"
  rm -rf "$work/bt"
}
if [ -n "$transfers" ] && tool aria2-bt; then
  if need aria2c aria2 && need mktorrent mktorrent && need opentracker opentracker; then
    for run_no in $(seq 1 "$runs"); do
      want 1to1 && bt_aria2 1to1 1 1
      want 4to1 && bt_aria2 4to1 4 1
      want 1to4 && bt_aria2 1to4 1 4
    done
    run_no=1
  else
    for s in $transfers; do skip "$s" aria2-bt "aria2c, mktorrent or opentracker not installable"; done
  fi
fi

# --- libtorrent: seeders and downloaders with peers added by hand.
lt_run() { # scenario seeders leechers
  local sc=$1 ns=$2 nl=$3 i dir ps=() pl=() ports=() rss_all=() secs_all=() ok=identical
  rm -rf "$work/lt"; mkdir -p "$work/lt/swarm"
  for i in $(seq 0 $((ns - 1))); do
    dir=$work/src; [ "$i" -gt 0 ] && dir=$work/src$i
    $py "$bench/libtorrent_transfer.py" seed "$work/lt.torrent" "$dir" "$work/lt/port$i" 2> "$work/lt/seed$i.log" &
    ps+=($!); pids+=($!)
  done
  # Each seeder checks the file before it listens (bounded).
  for i in $(seq 0 $((ns - 1))); do
    for _ in $(seq 1 $((600 + size_mb / 4))); do [ -s "$work/lt/port$i" ] && break; sleep 0.1; done
    [ -s "$work/lt/port$i" ] && ports+=("$(cat "$work/lt/port$i")")
  done
  if [ "${#ports[@]}" -lt "$ns" ]; then
    skip "$sc" libtorrent "only ${#ports[@]} of $ns seeders started"; stop_all "${ps[@]}"; return
  fi
  drop_caches
  for i in $(seq 1 "$nl"); do
    mkdir -p "$work/lt/out$i"
    $py "$bench/libtorrent_transfer.py" get "$work/lt.torrent" "$work/lt/out$i" "$(IFS=,; echo "${ports[*]}")" \
      --swarm "$work/lt/swarm" --limit "$get_limit" > /dev/null 2> "$work/lt/get$i.log" &
    pl+=($!); pids+=($!)
  done
  local deadline=$(( $(date +%s) + get_limit + 5 )) n
  while [ "$(date +%s)" -lt "$deadline" ]; do
    n=$(find "$work/lt/swarm" -name 'done.*' ! -name '*.tmp' | wc -l)
    [ "$n" -ge "$nl" ] && break
    for p in "${pl[@]}"; do kill -0 "$p" 2>/dev/null || break 2; done
    sleep 0.05
  done
  for i in $(seq 1 "$nl"); do
    local p=${pl[$((i - 1))]}
    rss_all+=("$(hwm_mb "$p")")
    if [ -s "$work/lt/swarm/done.$p" ]; then
      secs_all+=("$(cut -d' ' -f1 "$work/lt/swarm/done.$p")")
    else
      secs_all+=(-); ok="FAILED (downloader $i: $(tail -c 200 "$work/lt/get$i.log"))"
    fi
  done
  touch "$work/lt/swarm/stop"
  stop_all "${pl[@]}" "${ps[@]}"
  for i in $(seq 1 "$nl"); do
    [ -s "$work/lt/out$i/bench-data.bin" ] && { cmp -s "$file" "$work/lt/out$i/bench-data.bin" || ok=DIFFERS; }
  done
  swarm_row "$sc" "libtorrent-$lt_version" "$nl" "$ns seeder(s), peers by hand, ${piece_kb} KiB pieces, $ok" \
    "also connected to each other"
  rm -rf "$work/lt"
}
if [ -n "$transfers" ] && tool libtorrent; then
  if $py -c 'import libtorrent' 2>/dev/null || {
       echo "transfer bench: python3's libtorrent is missing; installing the Debian package python3-libtorrent" >&2
       apt_install python3-libtorrent && $py -c 'import libtorrent' 2>/dev/null &&
         installed+=("python3-libtorrent (apt-get)") && echo "transfer bench: installed python3-libtorrent" >&2; }; then
    lt_version=$($py -c 'import libtorrent; print(libtorrent.__version__)')
    $py "$bench/libtorrent_transfer.py" make "$file" "$work/lt.torrent" "$piece_bytes"
    for run_no in $(seq 1 "$runs"); do
      want 1to1 && lt_run 1to1 1 1
      want 4to1 && lt_run 4to1 4 1
      want 1to4 && lt_run 1to4 1 4
    done
    run_no=1
  else
    for s in $transfers; do skip "$s" libtorrent "python3-libtorrent not installable"; done
  fi
fi

summarize
echo
echo "transfer bench: $size_mb MiB ($bytes bytes) on 127.0.0.1; $runs runs each; caches dropped: $dropped; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
fmt scenario tool runs "min s" "median" "max s" "MB/s med" "peak RSS MB" note; echo
for s in limit 1to1 4to1 1to4; do
  for r in "${rows[@]}"; do case "$r" in "$s "*) echo "$r" ;; esac; done
done
[ "${#index_rows[@]}" -gt 0 ] && printf '%s\n' "${index_rows[@]}"
echo "(runs: successful/all; MB/s at the median run. 1to4: seconds = slowest of the 4 downloaders from a"
echo " common start -- libtorrent's each from its own session start; MB/s = 4 x size / that. aria2-bt"
echo " includes its tracker announce and first unchoke. The note is the last run's.)"
if [ "${#timeline_out[@]}" -gt 0 ]; then
  echo
  echo "weft per-source timelines ($timelines runs):"
  printf '%s\n' "${timeline_out[@]}"
fi
[ "${#installed[@]}" -gt 0 ] && echo "installed for this run: ${installed[*]}"
echo
printf '%s\n' "${results[@]}"
