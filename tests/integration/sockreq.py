#!/usr/bin/python3
"""sockreq.py -- send request lines to pwccad's control socket, print the response lines.

Usage: sockreq.py SOCKET LINE...          one response per line, printed as received
       sockreq.py SOCKET --subscribe SECS  subscribe and print events for SECS seconds
       sockreq.py SOCKET --raw-bytes N     send one N-byte line without a newline first
Every wait is bounded (5 s per response) so a broken daemon fails a test instead of hanging it.
"""
import socket, sys, time

path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(path)
f = s.makefile("rb")

def line():
    try:
        l = f.readline()
    except OSError:  # timeout or reset
        return None
    return l.decode().rstrip("\n") if l else None

if sys.argv[2] == "--subscribe":
    s.sendall(b'{"cmd":"subscribe"}\n')
    end = time.time() + float(sys.argv[3])
    while time.time() < end:
        s.settimeout(max(0.05, end - time.time()))
        try:
            l = f.readline()
        except (socket.timeout, OSError):
            break
        if not l:
            break
        print(l.decode().rstrip("\n"), flush=True)
elif sys.argv[2] == "--raw-bytes":
    n = int(sys.argv[3])
    try:
        s.sendall(b"x" * n + b"\n")
    except OSError:
        pass
    print(line())
    print("closed" if line() is None else "open")
else:
    for req in sys.argv[2:]:
        s.sendall(req.encode() + b"\n")
        print(line(), flush=True)
