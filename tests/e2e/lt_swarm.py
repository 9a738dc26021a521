#!/usr/bin/python3
"""Runs a real BitTorrent swarm of two libtorrent sessions through one tracker.

Usage: lt_swarm.py ANNOUNCE_URL WORKDIR [--bind ADDR] [--size BYTES] [--timeout SECONDS]
                   [--leech-announce URL] [--hold]

Creates a random file in WORKDIR/seed, makes a .torrent announcing to ANNOUNCE_URL, starts a
seeder and a leecher (DHT, LSD, PEX, UPnP and NAT-PMP off, listening on ADDR only), and exits 0
once the leecher holds the very same bytes. Exits 1 on timeout. Writes the .torrent to
WORKDIR/swarm.torrent and prints one progress line a second.

With --leech-announce, the leecher's copy of the .torrent names that tracker instead (same info
hash): the seeder and the leecher then only meet if the two trackers share their swarm. With
--hold, once the leecher has the bytes, prints "HOLDING" and keeps both peers running until a
line (or end of file) arrives on standard input.
"""
import argparse
import hashlib
import os
import sys
import time

import libtorrent as lt


def session(bind, port):
    settings = {
        "listen_interfaces": f"{bind}:{port}" if ":" not in bind else f"[{bind}]:{port}",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "allow_multiple_connections_per_ip": True,
        "announce_to_all_trackers": True,
        "announce_to_all_tiers": True,
        "alert_mask": lt.alert.category_t.error_notification | lt.alert.category_t.tracker_notification,
        "user_agent": "hefur-e2e",
    }
    return lt.session(settings)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("announce")
    ap.add_argument("workdir")
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--size", type=int, default=3 * 1024 * 1024 + 123)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--leech-announce", default=None)
    ap.add_argument("--hold", action="store_true")
    args = ap.parse_args()

    seed_dir = os.path.join(args.workdir, "seed")
    leech_dir = os.path.join(args.workdir, "leech")
    os.makedirs(seed_dir, exist_ok=True)
    os.makedirs(leech_dir, exist_ok=True)
    data = os.urandom(args.size)
    with open(os.path.join(seed_dir, "payload.bin"), "wb") as f:
        f.write(data)

    fs = lt.file_storage()
    lt.add_files(fs, os.path.join(seed_dir, "payload.bin"))
    ct = lt.create_torrent(fs, 256 * 1024, flags=lt.create_torrent.v1_only)
    ct.add_tracker(args.announce)
    lt.set_piece_hashes(ct, seed_dir)
    meta = ct.generate()
    torrent_bytes = lt.bencode(meta)
    with open(os.path.join(args.workdir, "swarm.torrent"), "wb") as f:
        f.write(torrent_bytes)
    info = lt.torrent_info(lt.bdecode(torrent_bytes))
    leech_bytes = torrent_bytes
    if args.leech_announce:
        # Only the announce URL changes: it is outside the info dictionary, so the hash stays.
        key = b"announce" if b"announce" in meta else "announce"
        meta[key] = args.leech_announce
        leech_bytes = lt.bencode(meta)
        assert str(lt.torrent_info(lt.bdecode(leech_bytes)).info_hash()) == str(info.info_hash())

    seeder = session(args.bind, 0)
    leecher = session(args.bind, 0)
    flags = lt.torrent_flags.seed_mode
    hs = seeder.add_torrent({"ti": info, "save_path": seed_dir, "flags": flags})
    hl = leecher.add_torrent({"ti": lt.torrent_info(lt.bdecode(leech_bytes)), "save_path": leech_dir})

    deadline = time.time() + args.timeout
    last = 0
    while time.time() < deadline:
        for s, name in ((seeder, "seeder"), (leecher, "leecher")):
            for a in s.pop_alerts():
                if isinstance(a, (lt.tracker_error_alert, lt.tracker_warning_alert)):
                    print(f"{name}: {a.message()}", flush=True)
        st = hl.status()
        if time.time() - last >= 1:
            last = time.time()
            print(f"leecher {st.progress * 100:.0f}% peers={st.num_peers} "
                  f"seeder peers={hs.status().num_peers} tracker={st.current_tracker!r}", flush=True)
        if st.is_seeding or st.progress >= 1.0:
            with open(os.path.join(leech_dir, "payload.bin"), "rb") as f:
                got = f.read()
            if hashlib.sha256(got).digest() == hashlib.sha256(data).digest():
                print("OK: leecher has the right bytes", flush=True)
                if args.hold:
                    print("HOLDING", flush=True)
                    sys.stdin.readline()
                return 0
            print("FAIL: leecher's bytes differ", flush=True)
            return 1
        time.sleep(0.2)
    print("FAIL: timeout", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
