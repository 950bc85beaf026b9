#!/usr/bin/env python3
"""Measuring half of bench/search.sh: runs the queries against running `weft up` nodes and
prints the table. Standard library only.

Usage: search_bench.py CONFIG.json
       search_bench.py warm CONFIG.json PROBE_HOME   (ask until every target is found)

CONFIG: {"nodes": [HOME...] (every node of the network), "queriers": [HOME...],
         "targets": [{"words": "...", "hash": "..."}...], "models": ["directory", ...],
         "queries": N (rounds: each querier asks once per round), "timeout": SECS,
         "idle": N (idle windows), "grace": SECS, "client": "api" | "cli", "weft": PATH}

Each query: GET /v0/search?q=WORDS&via=MODEL&timeout_secs=T on the querier's own API, read as
a stream of JSON lines. Latency to the first result line, to the first line with the expected
hash, and to the end of the stream (the node ends it when every model has answered or the
timeout passed). With client "cli" it runs `weft search WORDS --via MODEL --json` instead, which
prints only at the end: first-result latency is then not measured, and "hit" is the
process's end.

Messages per query: every node's /metrics is read right before each query and again when its
answer has ended -- or, for a search that runs until its timeout (flood never knows it has
every answer), GRACE seconds after its first result line -- and the deltas summed over the
network. If the nodes export `weft_overlay_messages_sent_total{protocol=...}` that is used;
otherwise `libp2p_bandwidth_bytes_total{direction="Outbound"}` (BYTES, every protocol, on the
wire). The background (pings, keep-alive, DHT upkeep: bursty, e.g. each node's DHT bootstrap
every 60 s) is not subtracted; instead the median over queries is reported beside the mean,
and the idle network is measured over IDLE windows of GRACE seconds (spread over the gaps
between the models' batches) for comparison.
"""
import json
import math
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

MSG_COUNTER = "weft_overlay_messages_sent_total"
BW_COUNTER = "libp2p_bandwidth_bytes_total"
LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([-+0-9.eEInfa]+)")


def api(home):
    with open(f"{home}/addrs.json") as f:
        addr = json.load(f)["api"]
    with open(f"{home}/api.token") as f:
        token = f.read().strip()
    return f"http://{addr}", token


def get(home, path, timeout):
    base, token = api(home)
    req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    return urllib.request.urlopen(req, timeout=timeout)


def scrape(home):
    """{(name, labels): value} of one node's /metrics; {} if it does not answer."""
    out = {}
    try:
        text = get(home, "/metrics", 5).read().decode()
    except Exception:
        return None
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = LINE.match(line)
        if m:
            try:
                out[(m.group(1), m.group(2) or "")] = float(m.group(3))
            except ValueError:
                pass
    return out


def scrape_all(nodes):
    with ThreadPoolExecutor(max_workers=16) as ex:
        per_node = list(ex.map(scrape, nodes))
    total, missing = {}, 0
    for m in per_node:
        if m is None:
            missing += 1
            continue
        for k, v in m.items():
            total[k] = total.get(k, 0.0) + v
    return total, missing


def label(labels, key):
    m = re.search(key + r'="([^"]*)"', labels)
    return m.group(1) if m else ""


def message_counts(total):
    """Per-protocol messages sent, if the counter exists, else None."""
    per = {k[1]: v for k, v in total.items() if k[0] == MSG_COUNTER}
    if not per:
        return None
    out = {}
    for labels, v in per.items():
        p = label(labels, "protocol") or "all"
        out[p] = out.get(p, 0.0) + v
    return out


def bytes_out(total):
    return sum(v for k, v in total.items()
               if k[0] == BW_COUNTER and label(k[1], "direction").lower() == "outbound")


def query_api(home, model, words, want, timeout, stop_on_hit=False, on_first=None):
    q = urllib.parse.urlencode({"q": words, "via": model, "timeout_secs": timeout})
    t0 = time.monotonic()
    first = hit = None
    hashes = set()
    try:
        with get(home, f"/v0/search?{q}", timeout + 15) as resp:
            for line in resp:
                now = time.monotonic() - t0
                try:
                    g = json.loads(line)
                except ValueError:
                    continue
                if "hash" not in g:  # a {"cut": ...} line: results were held back
                    continue
                if first is None:
                    first = now
                    if on_first:
                        on_first()
                hashes.add(g.get("hash"))
                if hit is None and g.get("hash") == want:
                    hit = now
                    if stop_on_hit:
                        break
        err = None
    except Exception as e:  # counted as a failure
        err = str(e)
    return {"first": first, "hit": hit, "done": time.monotonic() - t0, "n": len(hashes), "err": err}


def query_cli(weft, home, model, words, want, timeout):
    t0 = time.monotonic()
    try:
        p = subprocess.run([weft, "--home", home, "search", *words.split(), "--via", model,
                            "--timeout", str(timeout), "--json"],
                           capture_output=True, timeout=timeout + 20, text=True)
        done = time.monotonic() - t0
        rows = json.loads(p.stdout)["results"] if p.returncode == 0 else []
        err = None if p.returncode == 0 else p.stderr.strip()[:200]
    except Exception as e:
        done, rows, err = time.monotonic() - t0, [], str(e)
    hashes = {r.get("hash") for r in rows}
    return {"first": None, "hit": done if want in hashes else None, "done": done,
            "n": len(hashes), "err": err}


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, math.ceil(p / 100 * len(xs)) - 1))]  # nearest rank


def ms(x):
    return "-" if x is None else f"{x * 1000:.0f}"


def warm(cfg, probe, tries=20):
    """Asks from PROBE for every target through every model until it is found (bounded)."""
    for model in cfg["models"]:
        t0, found = time.monotonic(), 0
        for tg in cfg["targets"]:
            for _ in range(tries):
                r = query_api(probe, model, tg["words"], tg["hash"], int(cfg["timeout"]), True)
                if r["hit"] is not None:
                    found += 1
                    break
                time.sleep(0.5)
        print(f"warm-up via {model}: the probe found {found} of {len(cfg['targets'])} files "
              f"in {time.monotonic() - t0:.1f} s", flush=True)


def measured(cfg, nodes, traffic, model, home, tg, grace):
    """One query with its traffic window; returns (result, {protocol: delta})."""
    before, _ = scrape_all(nodes)
    box = {}
    first_seen = threading.Event()
    done = threading.Event()

    def run():
        if cfg.get("client") == "cli":
            box["r"] = query_cli(cfg["weft"], home, model, tg["words"], tg["hash"], int(cfg["timeout"]))
        else:
            box["r"] = query_api(home, model, tg["words"], tg["hash"], int(cfg["timeout"]),
                                 on_first=first_seen.set)
        done.set()

    th = threading.Thread(target=run, daemon=True)
    t0 = time.monotonic()
    th.start()
    cut = None
    while not done.wait(0.005):
        if first_seen.is_set():
            cut = cut or time.monotonic() + grace
            if time.monotonic() >= cut:
                break
    after, missing = scrape_all(nodes)
    window = time.monotonic() - t0
    th.join()
    return box["r"], traffic(before, after), window, missing


def main():
    if sys.argv[1] == "warm":
        return warm(json.load(open(sys.argv[2])), sys.argv[3])
    cfg = json.load(open(sys.argv[1]))
    nodes, queriers, targets = cfg["nodes"], cfg["queriers"], cfg["targets"]
    timeout, grace = int(cfg["timeout"]), float(cfg.get("grace", 1.0))

    def med(xs):
        return statistics.median(xs) if xs else None

    has_msgs = message_counts(scrape_all(nodes)[0]) is not None
    unit = "msgs" if has_msgs else "bytes"

    def traffic(a, b):
        if has_msgs:
            ma, mb = message_counts(a) or {}, message_counts(b) or {}
            return {p: mb.get(p, 0.0) - ma.get(p, 0.0) for p in mb}
        return {"all": bytes_out(b) - bytes_out(a)}

    # The idle network, in windows as long as a flood query's, taken after each model's batch.
    idle = []

    def idle_windows(count):
        for _ in range(count):
            a, _ = scrape_all(nodes)
            time.sleep(grace)
            b, _ = scrape_all(nodes)
            idle.append(sum(traffic(a, b).values()))

    per_batch = -(-int(cfg["idle"]) // max(1, len(cfg["models"])))

    rows, results, notes = [], [], []
    k = 0
    for model in cfg["models"]:
        lat, per_query, windows, proto = [], [], [], {}
        miss = 0
        for _ in range(int(cfg["queries"])):
            for home in queriers:
                tg = targets[k % len(targets)]
                k += 1
                r, d, w, m = measured(cfg, nodes, traffic, model, home, tg, grace)
                lat.append(r)
                per_query.append(sum(d.values()))
                windows.append(w)
                miss += m
                for p, v in d.items():
                    proto[p] = proto.get(p, 0.0) + v
        n = len(lat)
        ok = [r for r in lat if r["hit"] is not None]
        firsts = [r["first"] for r in lat if r["first"] is not None]
        hits = [r["hit"] for r in ok]
        dones = [r["done"] for r in lat]
        breakdown = " ".join(f"{p}={v / n:.1f}" for p, v in sorted(proto.items()) if v) if has_msgs else ""
        rows.append((model, n, f"{100 * len(ok) / n:.0f}%",
                     ms(med(firsts)), ms(pct(firsts, 95)), ms(med(hits)), ms(pct(hits, 95)),
                     ms(med(dones)), ms(pct(dones, 95)),
                     f"{med(per_query):.0f}", f"{statistics.mean(per_query):.0f}",
                     f"{pct(per_query, 95):.0f}", ms(med(windows)), breakdown))
        for e in sorted({r["err"] for r in lat if r["err"]})[:3]:
            notes.append(f"error ({model}): {e}")
        if miss:
            notes.append(f"warning ({model}): /metrics unanswered {miss} time(s)")
        idle_windows(per_batch)
        results.append(
            f"RESULT search model={model} nodes={len(nodes)} queries={n} success={len(ok) / n:.3f} "
            f"first_ms_p50={ms(med(firsts))} first_ms_p95={ms(pct(firsts, 95))} "
            f"hit_ms_p50={ms(med(hits))} hit_ms_p95={ms(pct(hits, 95))} "
            f"done_ms_p50={ms(med(dones))} done_ms_p95={ms(pct(dones, 95))} "
            f"{unit}_per_query_p50={med(per_query):.0f} {unit}_per_query_mean={statistics.mean(per_query):.0f} "
            f"counter={MSG_COUNTER if has_msgs else BW_COUNTER}")

    print(f"search bench: {len(nodes)} nodes on 127.0.0.1, {len(queriers)} querying nodes, "
          f"{len(targets)} target files, search timeout {timeout}s, client {cfg.get('client', 'api')}")
    if has_msgs:
        print(f"traffic: messages sent ({MSG_COUNTER}, summed over all nodes) per query")
    else:
        print(f"traffic: NO {MSG_COUNTER} in /metrics, so these are BYTES sent per query "
              f"({BW_COUNTER}{{direction=Outbound}}, every protocol, summed over all nodes)")
    if idle:
        print(f"idle network, {len(idle)} windows of {grace:.1f} s between the batches: {unit} median {med(idle):.0f}, "
              f"mean {statistics.mean(idle):.0f}, max {max(idle):.0f} (not subtracted)")
    hdr = ("model", "queries", "success", "first p50", "first p95", "hit p50", "hit p95",
           "done p50", "done p95", f"{unit} p50", f"{unit} mean", f"{unit} p95", "window")
    fmt = "%-10s %7s %7s %9s %9s %9s %9s %9s %9s %10s %10s %10s %7s  %s"
    print(fmt % (*hdr, "mean per protocol" if has_msgs else ""))
    for r in rows:
        print(fmt % r)
    print("(ms; first = first result line, hit = first line with the expected file, done = end of "
          "the answer; success = expected file found; window = median ms over which one query's "
          f"traffic was counted: until done, or first result + {grace:.1f} s)")
    for line in notes:
        print(line)
    print()
    for line in results:
        print(line)


if __name__ == "__main__":
    main()
