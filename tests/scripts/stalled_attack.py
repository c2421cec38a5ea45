#!/usr/bin/env python3
"""The stalled-connection attack of issue 13, against a running daemon on loopback.

Opens N connections that each send a webhook header with Content-Length: 1000 and one byte of
body, then nothing; while they are open, sends signed webhooks one after another and reports
how long each took to be answered (and its status). Run against the release binary:

    cargo build --release -p bot-daemon
    target/release/bot-daemon --db /tmp/attack/cs.db &
    python3 tests/scripts/stalled_attack.py --db /tmp/attack/cs.db --connections 1000

The app secret is read from <db>.sandbox-secret (sandbox mode). Only loopback is attacked.
"""
import argparse, hashlib, hmac, json, socket, statistics, sys, time

def signed_body(i, now):
    phone = f"23480{i:08d}"
    body = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": "sandbox"},
        "contacts": [{"profile": {"name": f"User {i}"}, "wa_id": phone}],
        "messages": [{"from": phone, "id": f"wamid.attack.{now}.{i}", "timestamp": str(now), "type": "text", "text": {"body": "hello"}}]}}]}]}
    return json.dumps(body).encode()

def post(host, port, body, secret, timeout):
    sig = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    req = (f"POST /webhook HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
           f"X-Hub-Signature-256: {sig}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
    t0 = time.perf_counter()
    s = socket.create_connection((host, port), timeout=timeout)
    s.sendall(req)
    data = b""
    while b"\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    took = time.perf_counter() - t0
    s.close()
    status = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/1.1 ") else "none"
    return status, took

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--db", required=True)
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--webhooks", type=int, default=50)
    ap.add_argument("--timeout", type=float, default=30.0)
    a = ap.parse_args()
    assert a.host.startswith("127.") or a.host in ("localhost", "::1"), "loopback only"
    secret = open(a.db + ".sandbox-secret", "rb").read().strip()
    now = int(time.time())
    held = []
    t0 = time.perf_counter()
    for _ in range(a.connections):
        s = socket.create_connection((a.host, a.port))
        s.sendall(b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"X-Hub-Signature-256: sha256=00\r\nContent-Length: 1000\r\n\r\n{")
        held.append(s)
    print(f"{len(held)} stalled connections open in {time.perf_counter() - t0:.2f} s")
    results = [post(a.host, a.port, signed_body(i, now), secret, a.timeout) for i in range(a.webhooks)]
    took = sorted(r[1] for r in results)
    statuses = {}
    for st, _ in results:
        statuses[st] = statuses.get(st, 0) + 1
    print(f"signed webhooks: {a.webhooks}, statuses {statuses}")
    print(f"answer time: min {took[0]*1000:.1f} ms, median {statistics.median(took)*1000:.1f} ms, "
          f"max {took[-1]*1000:.1f} ms")
    alive = 0
    for s in held:
        s.setblocking(False)
        try:
            alive += s.recv(1) == b"" and 0 or 1
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    print(f"stalled connections still open right after: {alive}")
    return 0 if set(statuses) == {"200"} and took[-1] < 1.0 else 1

if __name__ == "__main__":
    sys.exit(main())
