#!/usr/bin/python3
"""fake_pwccad.py -- a stand-in daemon speaking docs/protocol.md, for the client tests.

Usage: fake_pwccad.py SOCKET LOG [MODE]

Listens on the Unix socket SOCKET, answers status, finalize, rescan and
subscribe the way pwccad documents them, and appends every request it
receives to LOG (one JSON line each) so a test can check what the client
sent.  After a subscribe it sends two alert events and a score event, then
closes the connection: the first alert repeats one the fixture database
already holds (the client must not print it twice), the second is new.
A finalize of run "nope" is refused.  It exits on SIGTERM.

MODE misbehaves on purpose, to test the client's limits: "huge" answers
every request with a line longer than the client accepts (16 MiB), "garbage"
with a line that is not JSON.
"""
import json
import os
import signal
import socket
import sys
import threading

STATUS = {
    "ok": True, "version": "0.1.0", "pid": os.getpid(), "uptime_s": 12.5, "queue": 2,
    "checkpoints_done": 40, "checkpoints_failed": 1, "last_error": "step_000300: truncated file",
    "retention": {"modes": ["bf16"], "dir": "/var/lib/pwccad/retained", "budget_bytes": 4 << 30,
                  "bytes": 3435973837, "copies": 812, "evictions": 14,
                  "last_error": "deep: step 2000 not retained: No space left on device"},
    "runs": [
        {"name": "deep", "path": "/data/runs/deep", "checkpoints": 21, "last_step": 2000,
         "state": "final", "final_step": 2000},
        {"name": "live", "path": "/data/runs/live", "checkpoints": 6, "last_step": 500,
         "state": "running", "final_step": None},
    ],
}
EVENTS = [
    {"event": "alert", "kind": "layer_stable", "run": "deep", "layer": "embed", "step": 600,
     "value": 0.0123, "detail": None},
    {"event": "score", "run": "deep", "layer": "embed", "step": 2100, "ref": "previous",
     "ref_step": 2000, "pwcca": 0.99, "distance": 0.01, "status": "ok"},
    {"event": "alert", "kind": "layer_unstable", "run": "deep", "layer": "head.fc", "step": 2100,
     "value": 0.25, "detail": None},
]


def answer(req):
    cmd = req.get("cmd")
    if cmd == "status":
        return STATUS
    if cmd == "finalize":
        if req.get("run") == "nope":
            return {"ok": False, "error": "no run 'nope'; known runs: deep, live"}
        return {"ok": True, "run": os.path.basename(req["run"]), "final_step": req.get("step", 500)}
    if cmd == "rescan":
        return {"ok": True}
    return {"ok": False, "error": f"unknown command {cmd!r}"}


def serve(conn, log, mode):
    try:
        talk(conn, log, mode)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client hung up, as it should on a bad answer


def talk(conn, log, mode):
    with conn, conn.makefile("rwb") as f:
        for line in f:
            req = json.loads(line)
            with open(log, "a", encoding="utf-8") as lf:
                lf.write(json.dumps(req) + "\n")
            if mode == "huge":
                f.write(b'{"ok": true, "pad": "' + b"x" * (17 << 20) + b'"}\n')
                f.flush()
                return
            if mode == "garbage":
                f.write(b"this is not json\n")
                f.flush()
                return
            if req.get("cmd") == "subscribe":
                f.write(b'{"ok": true, "subscribed": true}\n')
                for ev in EVENTS:
                    f.write(json.dumps(ev).encode() + b"\n")
                f.flush()
                return
            f.write(json.dumps(answer(req)).encode() + b"\n")
            f.flush()


def main():
    path, log = sys.argv[1], sys.argv[2]
    mode = sys.argv[3] if len(sys.argv) > 3 else ""
    if os.path.exists(path):
        os.remove(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(8)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=serve, args=(conn, log, mode), daemon=True).start()
    finally:
        os.remove(path)


if __name__ == "__main__":
    main()
