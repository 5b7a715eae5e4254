#!/usr/bin/python3
"""retain_usage.py -- do pwccad's `status` and /metrics count what its retention directory holds?

Usage: retain_usage.py SOCKET DB RETAIN_DIR MODES BUDGET_BYTES EVICTIONS ERROR [METRICS_URL]

The truth is the directory: every RETAIN_DIR/RUN_ID/STEP.safetensors regular
file is a copy (temporaries and other names are not), its size its bytes.
Checks, against the daemon's `status` answer on SOCKET:
  - retention.copies and .bytes equal the files' count and total size;
  - each run's retained_copies / retained_bytes equal those of its directory
    (runs matched to their ids by path through DB);
  - retention.dir is RETAIN_DIR, .modes is MODES (comma-separated, "" none),
    .budget_bytes is BUDGET_BYTES, .evictions is EVICTIONS;
  - retention.last_error is null when ERROR is "none", else contains ERROR;
and, with METRICS_URL, that pwccad_retained_bytes, _copies,
pwccad_retain_budget_bytes and pwccad_retain_evictions_total say the same.
Exit 0 when everything matches; otherwise every mismatch on stdout, exit 1.
"""
import json
import os
import re
import socket
import sqlite3
import sys
import urllib.request

COPY = re.compile(r"^[0-9]+\.safetensors$")


def status(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    s.sendall(b'{"cmd": "status"}\n')
    with s, s.makefile("rb") as f:
        return json.loads(f.readline())


def on_disk(top):
    """{run_id: (copies, bytes)} of the copies under top."""
    out = {}
    for run in os.listdir(top) if os.path.isdir(top) else []:
        d = os.path.join(top, run)
        if not run.isdigit() or not os.path.isdir(d):
            continue
        n = b = 0
        for name in os.listdir(d):
            p = os.path.join(d, name)
            if COPY.match(name) and os.path.isfile(p) and not os.path.islink(p):
                n += 1
                b += os.stat(p).st_size
        out[int(run)] = (n, b)
    return out


def scrape(url):
    text = urllib.request.urlopen(url, timeout=5).read().decode("utf-8")
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r"^(pwccad_retain\w*) (\S+)$", text, re.M)}


def main():
    sock, db, top, modes, budget, evictions, error = sys.argv[1:8]
    url = sys.argv[8] if len(sys.argv) > 8 else None
    bad = []
    st = status(sock)
    rt = st.get("retention") or {}
    disk = on_disk(top)
    copies = sum(n for n, _ in disk.values())
    held = sum(b for _, b in disk.values())
    want = {"copies": copies, "bytes": held, "budget_bytes": int(budget),
            "evictions": int(evictions), "modes": [m for m in modes.split(",") if m]}
    for k, v in want.items():
        if rt.get(k) != v:
            bad.append("retention.%s is %r, expected %r" % (k, rt.get(k), v))
    if os.path.realpath(rt.get("dir", "")) != os.path.realpath(top):
        bad.append("retention.dir is %r, expected %r" % (rt.get("dir"), top))
    err = rt.get("last_error")
    if (err is not None) if error == "none" else (err is None or error not in err):
        bad.append("retention.last_error is %r, expected %s" % (err, error))

    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    ids = dict(con.execute("SELECT path, id FROM runs"))
    for r in st.get("runs", []):
        n, b = disk.get(ids.get(r["path"]), (0, 0))
        if (r.get("retained_copies"), r.get("retained_bytes")) != (n, b):
            bad.append("run %s: %r copies, %r bytes; its directory holds %d, %d bytes"
                       % (r["name"], r.get("retained_copies"), r.get("retained_bytes"), n, b))

    if url:
        m = scrape(url)
        for name, v in (("pwccad_retained_bytes", held), ("pwccad_retained_copies", copies),
                        ("pwccad_retain_budget_bytes", int(budget)),
                        ("pwccad_retain_evictions_total", int(evictions))):
            if m.get(name) != v:
                bad.append("/metrics %s is %r, expected %r" % (name, m.get(name), v))
    for b in bad:
        print(b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
