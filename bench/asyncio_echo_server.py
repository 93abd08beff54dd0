#!/usr/bin/env python3
"""A reference for scripts/bench.sh, outside the lessons: the course's own
world, an echo server on Python's asyncio streams (standard library only).

Run it:  python3 bench/asyncio_echo_server.py --port 0
It prints "listening on H:P" like the lessons' servers, so the same script
drives it, and stops cleanly on Ctrl-C or SIGTERM.
"""
import argparse
import asyncio
import signal
import sys


async def echo(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()  # backpressure: wait while the client is slow
    except ConnectionError:
        pass  # a reset ends this connection, no other
    finally:
        writer.close()


async def serve(host, port):
    # The default backlog (100) would drop handshakes when a benchmark
    # opens many connections at once.
    server = await asyncio.start_server(echo, host, port, backlog=1024)
    # Before "listening on": a SIGTERM from then on must find the handler.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stop.set)
    name = server.sockets[0].getsockname()
    print(f"listening on {name[0]}:{name[1]}", flush=True)
    async with server:
        await stop.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=5000, help="port to listen on; 0 picks a free one")
    arguments = parser.parse_args()
    try:
        asyncio.run(serve(arguments.host, arguments.port))
    except OSError as error:
        print(f"asyncio_echo_server: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
