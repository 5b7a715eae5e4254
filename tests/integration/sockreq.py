#!/usr/bin/python3
"""sockreq.py -- send request lines to pwccad's control socket, print the response lines.

Usage: sockreq.py SOCKET LINE...          one response per line, printed as received
       sockreq.py SOCKET --subscribe SECS  subscribe and print events for SECS seconds
       sockreq.py SOCKET --raw-bytes N     send one N-byte line without a newline first
       sockreq.py SOCKET --dribble N CHUNK send N bytes and never a newline, CHUNK bytes at a
                                           time; prints the response, whether the connection
                                           closed, and whether the daemon stopped taking bytes
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
elif sys.argv[2] == "--dribble":
    n, chunk = int(sys.argv[3]), int(sys.argv[4])
    sent, stopped = 0, False
    try:
        while sent < n:
            k = min(chunk, n - sent)
            s.sendall(b"y" * k)
            sent += k
            time.sleep(0.0005)
    except OSError:  # closed by the daemon, or it stopped reading and the buffers filled
        stopped = True
    print(line())
    print("closed" if line() is None else "open")
    print("stopped taking bytes" if stopped else "took all %d bytes" % sent)
else:
    for req in sys.argv[2:]:
        s.sendall(req.encode() + b"\n")
        print(line(), flush=True)
