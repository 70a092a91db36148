"""Publishes result batches as fast as the broker takes them, as many fake agents.

python -m bench.blast PORT SECONDS AGENTS RESULTS_PER_BATCH   → prints batches sent
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiomqtt


async def agent(port: int, index: int, until: float, per_batch: int, sent: list[int]) -> None:
    name = f"bench-{index}"
    topic = f"dui/v1/og/site-{index % 10}/{name}/results"
    epoch = f"{index:016x}"
    seq = 0
    async with aiomqtt.Client("127.0.0.1", port, identifier=name) as client:
        while time.monotonic() < until:
            now = time.time()
            results = []
            for _ in range(per_batch):
                seq += 1
                results.append(
                    {
                        "seq": seq,
                        "ts": now,
                        "probe": "http",
                        "target": "dui-login",
                        "role": "dui",
                        "success": True,
                        "duration_seconds": 0.4,
                        "status_code": 200,
                        "error": None,
                        "phases": {"connect": 0.01, "processing": 0.3},
                    }
                )
            payload = json.dumps(
                {
                    "v": 1,
                    "org": "og",
                    "site": f"site-{index % 10}",
                    "agent": name,
                    "epoch": epoch,
                    "first_seq": 1,
                    "clock_offset_seconds": 0.0,
                    "results": results,
                }
            ).encode()
            await client.publish(topic, payload, qos=1)
            sent[0] += 1


async def main(port: int, seconds: float, agents: int, per_batch: int) -> None:
    until = time.monotonic() + seconds
    sent = [0]
    await asyncio.gather(*(agent(port, i, until, per_batch, sent) for i in range(agents)))
    print(sent[0], flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
