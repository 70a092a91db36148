"""The tests' stand-in collector as a process, for benchmarks: acks until killed.

python -m bench.ack_forever PORT
"""

from __future__ import annotations

import asyncio
import sys

from tests.helpers.acker import Acker


async def main(port: int) -> None:
    async with Acker(port):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
