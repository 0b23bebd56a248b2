"""A MongoDB wire-protocol test server (mongoeco, memory engine) for the Mongo CI stage.

Run by a Python >= 3.13 environment with ``mongoeco[wire]`` installed (see .ci/mongo-stage):

    python .ci/mongoeco_server.py [PORT] [--port-file FILE]

Listens on 127.0.0.1 (PORT, or a free port when it is 0 or missing), prints the port on
one line once it accepts connections (and writes it to FILE when given), and stops on
SIGTERM or SIGINT. Clients connect with mongodb://127.0.0.1:PORT/?directConnection=true.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path


async def serve(port: int, port_file: str | None) -> None:
    from mongoeco.engines.memory import MemoryEngine
    from mongoeco.wire._lifecycle import finish_cleanup
    from mongoeco.wire.proxy import AsyncMongoEcoProxyServer

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    proxy = AsyncMongoEcoProxyServer(engine=MemoryEngine(), host="127.0.0.1", port=port)
    try:
        await asyncio.wait_for(proxy.start(), timeout=30)
        bound = proxy.address.port
        if port_file:
            tmp = Path(port_file + ".tmp")
            tmp.write_text(f"{bound}\n")
            tmp.replace(port_file)  # readers never see a half-written file
        print(bound, flush=True)
        await stop.wait()
    finally:
        await finish_cleanup(proxy.close())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", nargs="?", type=int, default=0)
    parser.add_argument("--port-file")
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.port_file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
