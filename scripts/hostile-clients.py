#!/usr/bin/env python3
"""Hostile clients for a lab's servers: what a workshop room full of attackers sends.

Run inside a lab host (scripts/test-hostile.sh does it), each subcommand against one
target, bounded in count and time; each prints one JSON line with what it measured:

  clte   TARGET  a request with both Content-Length and Transfer-Encoding, written in
                 twelve pieces, COUNT times: how many got an answer (never an empty reply)
  stall  TARGET  a stalled head, a stalled body, a stalled chunk-size line, a silent
                 connection, an idle kept-alive one: what each got and when it was closed
  slow   TARGET  COUNT connections open at once, each sending its request slowly: how
                 many got their answer
  many   TARGET  COUNT connections one after another (PARALLEL at a time), each with one
                 request: statuses, and any "Cannot assign requested address"
  sni    TARGET  COUNT TLS handshakes, each with its own server name
  hold   TARGET  opens COUNT connections and keeps them until its standard input closes
  cpu    PID     the CPU share a process used over SECONDS
Only the standard library: it runs on a bare Debian with python3.
"""

import argparse
import asyncio
import json
import os
import resource
import socket
import ssl
import sys
import time

CLTE = (b"POST / HTTP/1.1\r\nHost: clinic.test\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /account HTTP/1.1\r\nHost: clinic.test\r\n\r\n")


def target(s):
    host, _, port = s.rpartition(":")
    return host, int(port)


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


async def read_all(reader, limit):
    """Everything until the server closes, or what came within `limit` seconds."""
    out = b""
    try:
        async with asyncio.timeout(limit):
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                out += chunk
    except (TimeoutError, ConnectionError):
        pass
    return out


async def clte(args):
    host, port = target(args.target)
    size = -(-len(CLTE) // 12)
    pieces = [CLTE[i:i + size] for i in range(0, len(CLTE), size)]
    results = {"answered": 0, "empty": 0, "reset": 0}
    sem = asyncio.Semaphore(args.parallel)

    async def one():
        async with sem:
            reader, writer = await asyncio.open_connection(host, port)
            writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                for p in pieces:
                    writer.write(p)
                    await writer.drain()
                    await asyncio.sleep(0.002)
            except ConnectionError:
                pass
            try:
                answer = await read_all(reader, 10)
            except ConnectionResetError:
                answer = b""
            results["answered" if answer.startswith(b"HTTP/1.") else "empty"] += 1
            writer.close()

    await asyncio.gather(*(one() for _ in range(args.count)))
    return {"check": "clte", "target": args.target, "sent": args.count, "pieces": len(pieces), **results}


async def stall(args):
    host, port = target(args.target)
    cases = {
        "head": b"GET / HTTP/1.1\r\nHost: clinic.test\r\nX-Slow: ",
        "body": b"POST /login HTTP/1.1\r\nHost: clinic.test\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nusername=",
        "chunk": b"POST /login HTTP/1.1\r\nHost: clinic.test\r\nTransfer-Encoding: chunked\r\n\r\n100000000000000",
        "silent": b"",
        # A whole request, then idle on the kept-alive connection: one answer, then a
        # close without a 408 (which would meet the next request sent on it).
        "kept": b"GET / HTTP/1.1\r\nHost: clinic.test\r\n\r\n",
    }

    async def one(name, data):
        started = time.monotonic()
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(data)
        await writer.drain()
        answer = await read_all(reader, args.give_up)
        took = time.monotonic() - started
        writer.close()
        status = answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/1.") else None
        statuses = [line.split(b" ", 2)[1].decode() for line in answer.split(b"\r\n") if line.startswith(b"HTTP/1.") and len(line.split(b" ")) > 1]
        return {"case": name, "status": status, "statuses": statuses, "closed_after_s": round(took, 2)}

    out = await asyncio.gather(*(one(n, d) for n, d in cases.items()))
    return {"check": "stall", "target": args.target, "cases": out}


async def slow(args):
    host, port = target(args.target)
    request = b"GET / HTTP/1.1\r\nHost: clinic.test\r\nUser-Agent: slow\r\nConnection: close\r\n\r\n"
    thirds = [request[:20], request[20:45], request[45:]]
    connect_sem = asyncio.Semaphore(args.parallel)
    opened = asyncio.Event()
    state = {"open": 0, "ok": 0, "failed": 0, "errors": {}}

    async def one():
        try:
            async with connect_sem:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 20)
            state["open"] += 1
            if state["open"] == args.count:
                opened.set()
            # Every connection is open before any request is complete: they are all
            # the server's at once.
            await asyncio.wait_for(opened.wait(), 60)
            for p in thirds:
                writer.write(p)
                await writer.drain()
                await asyncio.sleep(args.gap)
            answer = await read_all(reader, 60)
            writer.close()
            if answer.startswith(b"HTTP/1.1 200"):
                state["ok"] += 1
                return
            why = answer[:12].decode(errors="replace") or "empty reply"
        except Exception as e:  # noqa: BLE001 - every failure is counted by its kind
            why = type(e).__name__ + ": " + str(e)[:60]
            opened.set()
        state["failed"] += 1
        state["errors"][why] = state["errors"].get(why, 0) + 1

    started = time.monotonic()
    await asyncio.gather(*(one() for _ in range(args.count)))
    return {"check": "slow", "target": args.target, "connections": args.count, "answered": state["ok"],
            "failed": state["failed"], "errors": state["errors"], "seconds": round(time.monotonic() - started, 1)}


async def many(args):
    host, port = target(args.target)
    request = b"GET /style.css HTTP/1.1\r\nHost: clinic.test\r\nConnection: close\r\n\r\n"
    state = {"done": 0, "statuses": {}, "cannot_assign": 0, "errors": {}}
    next_id = iter(range(args.count))

    async def worker():
        for _ in next_id:
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
                writer.write(request)
                await writer.drain()
                answer = await read_all(reader, 10)
                writer.close()
                status = answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/1.") else "empty"
                state["statuses"][status] = state["statuses"].get(status, 0) + 1
                if b"Cannot assign requested address" in answer:
                    state["cannot_assign"] += 1
            except Exception as e:  # noqa: BLE001
                why = type(e).__name__ + ": " + str(e)[:60]
                state["errors"][why] = state["errors"].get(why, 0) + 1
                if "Cannot assign" in str(e):
                    state["cannot_assign"] += 1
            state["done"] += 1

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(args.parallel)))
    return {"check": "many", "target": args.target, "connections": state["done"], "statuses": state["statuses"],
            "errors": state["errors"], "cannot_assign": state["cannot_assign"], "seconds": round(time.monotonic() - started, 1)}


async def sni(args):
    host, port = target(args.target)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the forged certificates are what is being measured
    sem = asyncio.Semaphore(args.parallel)
    state = {"handshakes": 0, "failed": 0}

    async def one(i):
        async with sem:
            try:
                _, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port, ssl=ctx, server_hostname=f"n{i}.clinic.test"), 20)
                state["handshakes"] += 1
                writer.close()
            except Exception:  # noqa: BLE001
                state["failed"] += 1

    started = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(args.count)))
    return {"check": "sni", "target": args.target, "names": args.count, **state, "seconds": round(time.monotonic() - started, 1)}


async def hold(args):
    host, port = target(args.target)
    held = []
    for _ in range(args.count):
        try:
            held.append(await asyncio.wait_for(asyncio.open_connection(host, port), 5))
        except Exception:  # noqa: BLE001 - the backlog is full: enough are held
            break
    for _, w in held:
        w.write(b"G")  # one byte: the proxy now holds a descriptor for each
    print(json.dumps({"check": "hold", "held": len(held)}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    return None


def cpu(args):
    def ticks():
        with open(f"/proc/{args.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime

    hz = os.sysconf("SC_CLK_TCK")
    t0, w0 = ticks(), time.monotonic()
    time.sleep(args.seconds)
    t1, w1 = ticks(), time.monotonic()
    return {"check": "cpu", "pid": args.pid, "seconds": args.seconds, "core_share": round((t1 - t0) / hz / (w1 - w0), 4)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, count, parallel in [("clte", 300, 10), ("slow", 5000, 500), ("many", 60000, 32), ("sni", 4000, 16), ("hold", 300, 1)]:
        s = sub.add_parser(name)
        s.add_argument("target")
        s.add_argument("--count", type=int, default=count)
        s.add_argument("--parallel", type=int, default=parallel)
        s.add_argument("--gap", type=float, default=0.3)
    s = sub.add_parser("stall")
    s.add_argument("target")
    s.add_argument("--give-up", type=float, default=30.0)
    s = sub.add_parser("cpu")
    s.add_argument("pid", type=int)
    s.add_argument("--seconds", type=float, default=3.0)
    args = p.parse_args()
    raise_fd_limit()
    if args.cmd == "cpu":
        result = cpu(args)
    else:
        result = asyncio.run(globals()[args.cmd](args))
    if result is not None:
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
