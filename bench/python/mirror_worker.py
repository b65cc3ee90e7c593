"""The benchmark's Python handler served by notebridge (rows P1 and P2)."""

from pathlib import Path

from notebridge_worker import Worker

worker = Worker(name="bench-mirror", contracts_dir=str(Path(__file__).parents[1] / "contracts"))


@worker.handler("mirror", version=1)
async def mirror(record: dict) -> dict:
    return record
