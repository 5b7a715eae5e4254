#!/usr/bin/python3
"""sockguard.py -- hostile and crowding clients of pwccad's control socket.

Usage: sockguard.py flood SOCKET PID N   send up to N status requests on one connection and
                                         never read an answer; prints the daemon's VmRSS before
                                         and after (kB), how many requests went out, and what
                                         another client gets meanwhile
       sockguard.py crowd SOCKET N       hold N idle connections, then ask status on a fresh one;
                                         prints its answer, how many held ones were closed, and
                                         whether the first and the last held one were
       sockguard.py idle SOCKET SECS     one connection that sends nothing: prints "closed" when
                                         the daemon closes it within SECS, else "open"
       sockguard.py follow SOCKET SECS   subscribe and read for SECS (no events needed), then ask
                                         status on the same connection: prints whether it stayed open
       sockguard.py subscribers SOCKET N N connections subscribe; prints the last one's answer
       sockguard.py slowscrape PORT NSLOW K  NSLOW clients on 127.0.0.1:PORT send half a request
                                         head and reconnect when dropped, while K scrapes of
                                         /metrics run; prints how many were answered 200
Every wait is bounded, so a broken daemon fails a test instead of hanging it.
"""
import socket, sys, time, urllib.request

cmd, path = sys.argv[1], sys.argv[2]
STATUS = b'{"cmd":"status"}\n'


def connect(timeout=5.0):
    """A connection; a full listen backlog (EAGAIN on a Unix socket) is retried for 5 s."""
    end = time.time() + 5
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(path)
            return s
        except BlockingIOError:
            s.close()
            if time.time() > end:
                raise
            time.sleep(0.01)


def ask(s, req=STATUS):
    """Send req and return the first answer line (or None on a timeout or close)."""
    s.sendall(req)
    buf = b""
    try:
        while not buf.endswith(b"\n"):
            b = s.recv(65536)
            if not b:
                return None
            buf += b
    except OSError:
        return None
    return buf.split(b"\n", 1)[0].decode()


def rss_kb(pid):
    with open("/proc/%s/status" % pid) as f:
        for l in f:
            if l.startswith("VmRSS:"):
                return int(l.split()[1])
    return -1


def closed(s, wait):
    """1 when the peer closed s within wait seconds (data before the close is skipped)."""
    s.settimeout(wait)
    end = time.time() + wait
    try:
        while time.time() < end:
            if not s.recv(65536):
                return True
    except socket.timeout:
        return False
    except OSError:
        return True
    return False


if cmd == "flood":
    pid, n = sys.argv[3], int(sys.argv[4])
    print("rss_before_kb", rss_kb(pid), flush=True)
    s = connect(timeout=2.0)
    sent, batch, end = 0, 2000, time.time() + 20
    try:
        while sent < n and time.time() < end:
            k = min(batch, n - sent)
            s.sendall(STATUS * k)  # blocks (then times out) once the daemon stops reading
            sent += k
    except OSError:
        pass
    time.sleep(0.5)  # let the daemon work through what it took
    print("sent", sent, flush=True)
    print("rss_after_kb", rss_kb(pid), flush=True)
    other = connect()
    print("other client:", ask(other), flush=True)
    other.close()
    s.close()
elif cmd == "crowd":
    n = int(sys.argv[3])
    held = [connect() for _ in range(n)]
    time.sleep(0.2)
    fresh = connect()
    print("fresh client:", ask(fresh), flush=True)
    fresh.close()
    gone = [closed(h, 0.2) for h in held]
    print("closed", sum(gone), "of", n, flush=True)
    if n:
        print("the oldest", "closed" if gone[0] else "open", "the newest",
              "closed" if gone[-1] else "open", flush=True)
    for h in held:
        h.close()
elif cmd == "idle":
    s = connect()
    print("closed" if closed(s, float(sys.argv[3])) else "open", flush=True)
elif cmd == "follow":
    s = connect()
    print("subscribe:", ask(s, b'{"cmd":"subscribe"}\n'), flush=True)
    gone = closed(s, float(sys.argv[3]))  # events, if any, are read and skipped
    print("closed" if gone else "open", flush=True)
    if not gone:
        s.settimeout(5)
        print("then status:", ask(s), flush=True)
elif cmd == "subscribers":
    n = int(sys.argv[3])
    conns, last = [], None
    for _ in range(n):
        c = connect()
        last = ask(c, b'{"cmd":"subscribe"}\n')
        conns.append(c)
    print("last subscribe:", last, flush=True)
    for c in conns:
        c.close()
elif cmd == "slowscrape":
    port, nslow, k = int(path), int(sys.argv[3]), int(sys.argv[4])
    half = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: "

    def slow():
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
        c.sendall(half)
        c.setblocking(False)
        return c

    conns, good = [slow() for _ in range(nslow)], 0
    for _ in range(k):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
                good += r.status == 200 and b"pwccad_" in r.read()
        except OSError:
            pass
        for i, c in enumerate(conns):  # a dropped slow client comes back at once
            try:
                if c.recv(1) == b"":
                    c.close()
                    conns[i] = slow()
            except BlockingIOError:
                pass
            except OSError:
                c.close()
                conns[i] = slow()
        time.sleep(0.2)
    print("answered", good, "of", k, flush=True)
    for c in conns:
        c.close()
