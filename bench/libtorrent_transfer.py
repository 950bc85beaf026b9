#!/usr/bin/env python3
"""libtorrent reference for bench/transfer.sh: one seeder, one downloader, on 127.0.0.1,
peers added by hand (no tracker, DHT, LSD, UPnP or NAT-PMP).

Usage:
  libtorrent_transfer.py make FILE TORRENT         make a torrent of FILE
  libtorrent_transfer.py seed TORRENT DIR PORTFILE seed (DIR holds the file); writes the port
  libtorrent_transfer.py get TORRENT OUTDIR PORT   download from 127.0.0.1:PORT; prints seconds
"""
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
    })
    return lt.session(settings)


def make(path, out):
    fs = lt.file_storage()
    lt.add_files(fs, path)
    t = lt.create_torrent(fs)
    lt.set_piece_hashes(t, os.path.dirname(os.path.abspath(path)))
    with open(out, "wb") as f:
        f.write(lt.bencode(t.generate()))


def add(ses, torrent, save_path):
    p = lt.add_torrent_params()
    p.ti = lt.torrent_info(torrent)
    p.save_path = save_path
    return ses.add_torrent(p)


def seed(torrent, folder, portfile):
    ses = session()
    h = add(ses, torrent, folder)
    # Check the file first (seed_mode would hash pieces as they are asked for, which stalls).
    while not h.status().is_seeding:
        time.sleep(0.05)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(ses.listen_port()))
    os.rename(portfile + ".tmp", portfile)
    while True:
        time.sleep(1)


def get(torrent, outdir, port, limit=600):
    ses = session()
    t0 = time.monotonic()
    h = add(ses, torrent, outdir)
    h.connect_peer(("127.0.0.1", int(port)))
    while True:
        s = h.status()
        if s.is_seeding or s.state == lt.torrent_status.seeding:
            break
        if time.monotonic() - t0 > limit:
            sys.exit(f"libtorrent download did not finish in {limit}s ({s.progress:.1%})")
        time.sleep(0.02)
    print(f"{time.monotonic() - t0:.3f}")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"make": make, "seed": seed, "get": get}[cmd](*args)
