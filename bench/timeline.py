#!/usr/bin/env python3
"""Per-source timeline of one weft download, from the downloader's log.

Usage: timeline.py DOWNLOADER.log [SOURCE.log ...]

The downloader runs with RUST_LOG including `weft::timeline=debug` (see
crates/weft-node/src/share/download.rs, TIMELINE): one line per verified piece, per broken
stream, per request timeout, cool-down, return after it and rediscovery. Source logs, with
`libp2p_stream=debug`, add the inbound streams libp2p-stream dropped because the accept loop
had not taken the previous one yet.

Prints, for each source: its rate in each half second (one character per step: `.` none,
`,` under 10 MiB/s, else the tens of MiB/s, 9 for 90 and more), its longest stall between two
pieces, and its events with their times; then the whole download's longest stall, and the
writer's: the slowest syncs of the partial file and the time the download loop waited for
the writer. Times are seconds from the first timeline line.
"""

import re
import sys
from datetime import datetime

STEP = 0.5  # seconds per column
MIB = 1 << 20
LINE = re.compile(r"^(\S+)\s+\w+\s+(.*)$")
FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def stamp(text):
    # 2026-12-01T23:59:59.123456Z
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def read(path):
    out = []
    with open(path, errors="replace") as f:
        for raw in f:
            m = LINE.match(ANSI.sub("", raw.rstrip("\n")))
            if not m:
                continue
            try:
                t = stamp(m.group(1))
            except ValueError:
                continue
            fields = {k: v.strip('"') for k, v in FIELD.findall(m.group(2))}
            out.append((t, fields, m.group(2)))
    return out


def short(peer):
    return peer[-6:] if peer else "?"


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    lines = [(t, f) for t, f, _ in read(argv[1]) if "event" in f]
    if not lines:
        print("  (no timeline lines in the downloader's log)")
        return 0
    t0 = lines[0][0]
    end = lines[-1][0] - t0
    cols = int(end / STEP) + 1
    sources = {}
    syncs, waits = [], []
    for t, f in lines:
        if f["event"] == "sync":
            syncs.append((int(f.get("sync_ms", 0)), int(f.get("write_ms", 0)), t - t0))
            continue
        if f["event"] == "write_wait":
            waits.append((int(f.get("ms", 0)), t - t0))
            continue
        peer = f.get("peer", "?")
        s = sources.setdefault(peer, {"bins": [0] * cols, "times": [], "events": []})
        at = t - t0
        if f["event"] == "piece":
            s["bins"][min(int(at / STEP), cols - 1)] += int(f.get("bytes", 0))
            s["times"].append(at)
        elif f["event"] != "session" or s["events"]:
            what = f["event"]
            extra = f.get("error") or f.get("added") or f.get("count") or ""
            s["events"].append(f"{at:.2f}s {what}{(' ' + extra) if extra else ''}")
    all_times = sorted(t for s in sources.values() for t in s["times"])
    print(f"  timeline: {end:.2f} s, {STEP} s per column, digit = tens of MiB/s verified")

    def cell(b):
        rate = b / MIB / STEP
        return "." if b == 0 else "," if rate < 10 else str(min(9, int(rate // 10)))

    for peer, s in sorted(sources.items(), key=lambda kv: -len(kv[1]["times"])):
        row = "".join(cell(b) for b in s["bins"])
        gaps = [b - a for a, b in zip(s["times"], s["times"][1:])]
        stall = max(gaps, default=0.0)
        at = s["times"][gaps.index(stall)] if gaps else 0.0
        mib = sum(s["bins"]) / MIB
        print(f"  {short(peer)} {row}  {mib:.0f} MiB, longest stall {stall:.2f} s at {at:.2f} s")
        for e in s["events"][:12]:
            print(f"         {e}")
        if len(s["events"]) > 12:
            print(f"         ... {len(s['events']) - 12} more events")
    gaps = [b - a for a, b in zip(all_times, all_times[1:])]
    if gaps:
        g = max(gaps)
        print(f"  longest time with no piece from any source: {g:.2f} s at "
              f"{all_times[gaps.index(g)]:.2f} s")
    if syncs:
        total = sum(s for s, _, _ in syncs) / 1000
        worst = sorted(syncs, reverse=True)[:5]
        print(f"  writer: {len(syncs)} syncs, {total:.2f} s in all; slowest "
              + ", ".join(f"{s} ms (write {w} ms) at {at:.2f}s" for s, w, at in worst))
    if waits:
        total = sum(m for m, _ in waits) / 1000
        worst = sorted(waits, reverse=True)[:5]
        print(f"  download loop waited for the writer {total:.2f} s in all; longest "
              + ", ".join(f"{m} ms at {at:.2f}s" for m, at in worst))
    for path in argv[2:]:
        drops = [t for t, _, text in read(path) if "dropping inbound stream" in text]
        if drops:
            when = ", ".join(f"{t - t0:.2f}s" for t in drops[:8])
            print(f"  {path.rsplit('/', 1)[-1]}: {len(drops)} inbound streams dropped by "
                  f"libp2p-stream (at {when})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
