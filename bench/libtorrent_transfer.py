#!/usr/bin/env python3
"""libtorrent reference for bench/transfer.sh, on 127.0.0.1, peers added by hand (no tracker,
DHT, LSD, UPnP or NAT-PMP).

Usage:
  libtorrent_transfer.py make FILE TORRENT [PIECE_BYTES]
      make a torrent of FILE (no announce URL); PIECE_BYTES 0 or absent: libtorrent chooses
  libtorrent_transfer.py seed TORRENT DIR PORTFILE
      seed (DIR holds the file, which is checked first); writes the listen port to PORTFILE
  libtorrent_transfer.py get TORRENT OUTDIR PORT[,PORT...] [--swarm DIR] [--limit SECS]
      download from the seeders at 127.0.0.1:PORT...; prints seconds to stdout.
      With --swarm DIR (several downloaders of the same torrent at once): writes its own
      listen port to DIR/port.PID and connects to every port found there while downloading
      (so downloaders trade pieces, as a tracker would let them), writes
      "SECONDS END_UNIX_NS" to DIR/done.PID when complete, and keeps seeding until DIR/stop
      exists (or --limit passes).
"""
import argparse
import glob
import os
import sys
import time

import libtorrent as lt


def session():
    # libtorrent defaults; only local discovery and uTP are off.
    settings = lt.default_settings()
    settings.update({
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "alert_mask": 0,
        # TCP like the others: uTP over loopback stalls for a second at a time here.
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        # Every peer is 127.0.0.1: allow several connections from one IP (the swarm case).
        "allow_multiple_connections_per_ip": True,
    })
    return lt.session(settings)


def make(path, out, piece_bytes="0"):
    fs = lt.file_storage()
    lt.add_files(fs, path)
    t = lt.create_torrent(fs, int(piece_bytes))
    lt.set_piece_hashes(t, os.path.dirname(os.path.abspath(path)))
    with open(out, "wb") as f:
        f.write(lt.bencode(t.generate()))


def add(ses, torrent, save_path):
    p = lt.add_torrent_params()
    p.ti = lt.torrent_info(torrent)
    p.save_path = save_path
    return ses.add_torrent(p)


def write_atomic(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def seed(torrent, folder, portfile):
    ses = session()
    h = add(ses, torrent, folder)
    # Check the file first (seed_mode would hash pieces as they are asked for, which stalls).
    while not h.status().is_seeding:
        time.sleep(0.05)
    write_atomic(portfile, str(ses.listen_port()))
    while True:
        time.sleep(1)


def get(argv):
    ap = argparse.ArgumentParser(prog="libtorrent_transfer.py get")
    ap.add_argument("torrent")
    ap.add_argument("outdir")
    ap.add_argument("ports")
    ap.add_argument("--swarm")
    ap.add_argument("--limit", type=float, default=600)
    a = ap.parse_args(argv)
    ses = session()
    t0 = time.monotonic()
    h = add(ses, a.torrent, a.outdir)
    me = os.getpid()
    if a.swarm:
        write_atomic(os.path.join(a.swarm, f"port.{me}"), str(ses.listen_port()))
    for port in a.ports.split(","):
        h.connect_peer(("127.0.0.1", int(port)))
    dialed = set()
    while True:
        s = h.status()
        if s.is_seeding or s.state == lt.torrent_status.seeding:
            break
        if time.monotonic() - t0 > a.limit:
            sys.exit(f"libtorrent download did not finish in {a.limit}s ({s.progress:.1%})")
        if a.swarm:
            for pf in glob.glob(os.path.join(a.swarm, "port.*")):
                if pf.endswith(f".{me}") or pf in dialed or pf.endswith(".tmp"):
                    continue
                try:
                    h.connect_peer(("127.0.0.1", int(open(pf).read())))
                    dialed.add(pf)
                except (OSError, ValueError):
                    pass
        time.sleep(0.02)
    secs = time.monotonic() - t0
    print(f"{secs:.3f}", flush=True)
    if a.swarm:
        write_atomic(os.path.join(a.swarm, f"done.{me}"), f"{secs:.3f} {time.time_ns()}")
        stop = os.path.join(a.swarm, "stop")
        while not os.path.exists(stop) and time.monotonic() - t0 < a.limit:
            time.sleep(0.05)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "get":
        get(args)
    else:
        {"make": make, "seed": seed}[cmd](*args)
