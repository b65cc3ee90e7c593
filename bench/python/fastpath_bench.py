"""Micro-benchmarks of the worker's checks, each beside its baseline (part of `make bench`).

    python-worker/.venv/bin/python bench/python/fastpath_bench.py

Times one request of the benchmark record (bench/contracts/mirror.v1.json) in and its reply
out: the exact path (exact-number parse and jsonschema; encode, re-parse and jsonschema)
against the fast path (orjson and the compiled check), and the worker's whole check of each
(the fast path with what surrounds it). Best of several repeats, in µs.
"""

import timeit
from collections.abc import Callable
from pathlib import Path

from notebridge_worker import exactjson, load_contracts
from notebridge_worker.contracts import fastcheck
from notebridge_worker.worker import _checked_reply, _checked_request

REPEATS, NUMBER = 7, 2000


def best_microseconds(work: Callable[[], object]) -> float:
    return min(timeit.repeat(work, number=NUMBER, repeat=REPEATS)) / NUMBER * 1e6


def main() -> None:
    contract = load_contracts(Path(__file__).parents[1] / "contracts")["mirror/v1"]
    data = exactjson.dumps(contract.examples[0].request)
    reply = exactjson.parse(data)

    def request_exact() -> object:
        return contract.request_violations(exactjson.parse_exact(data))

    def request_fast() -> object:
        return contract.request_check(fastcheck.loads(data))

    def request_worker() -> object:
        return _checked_request(contract, data, exact_numbers=False)

    def reply_exact() -> object:
        return contract.response_violations(exactjson.parse_exact(exactjson.dumps(reply)))

    def reply_fast() -> object:
        return contract.response_check(reply) and fastcheck.dumps(reply)

    def reply_worker() -> object:
        return _checked_reply(contract, reply, "bench")

    if not (request_fast() and reply_fast()):
        raise SystemExit("the fast path does not prove the benchmark record: nothing to time")
    rows = [
        ("request: parse_exact + jsonschema (baseline)", request_exact),
        ("request: orjson + compiled check", request_fast),
        ("request: the worker's whole check (_checked_request)", request_worker),
        ("reply: dumps + parse_exact + jsonschema (baseline)", reply_exact),
        ("reply: compiled check + orjson", reply_fast),
        ("reply: the worker's whole check (_checked_reply)", reply_worker),
    ]
    print("| Python micro-benchmark | µs/op |\n|---|---|")
    for name, work in rows:
        print(f"| {name} | {best_microseconds(work):.1f} |")


if __name__ == "__main__":
    main()
