"""The ``notebridge-worker`` command: ``notebridge-worker run module:attr``."""

import argparse
import importlib
import importlib.util
import logging
import os
import sys
from pathlib import Path
from types import ModuleType

from notebridge_worker.contracts import ContractError
from notebridge_worker.worker import DEFAULT_NATS_URL, ENV_CONTRACTS_DIR, ENV_NATS_URL, Worker

ENV_MAX_INFLIGHT = "NOTEBRIDGE_MAX_INFLIGHT"
DEFAULT_ATTRIBUTE = "worker"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class TargetError(Exception):
    """The ``module:attr`` given to ``run`` does not name a Worker."""


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.contracts_dir:
        # A Worker built with the default contracts_dir loads it while the target is imported.
        os.environ[ENV_CONTRACTS_DIR] = args.contracts_dir
    try:
        worker = load_worker(args.target)
        if (
            args.contracts_dir
            and Path(args.contracts_dir).resolve() != worker.contracts_dir.resolve()
        ):
            worker.use_contracts_dir(args.contracts_dir)
    except (TargetError, ContractError) as error:
        print(f"notebridge-worker: {error}", file=sys.stderr)
        return 2
    if args.name:
        worker.name = args.name
    if args.max_inflight:
        worker.max_inflight = args.max_inflight
    # An unreachable server is retried, and logged, until it answers: a worker may start
    # before NATS does.
    worker.run(args.nats_url)
    return 0


def load_worker(target: str) -> Worker:
    """Import ``module:attr`` or ``path/to/file.py:attr`` and return that Worker.

    ``attr`` defaults to ``worker``. The working directory is importable, as it is for
    ``python -m``, and a file's own directory is importable for its sibling modules.
    """
    location, _, attribute = target.rpartition(":") if ":" in target else (target, "", "")
    attribute = attribute or DEFAULT_ATTRIBUTE
    if location.endswith(".py") or "/" in location or os.sep in location:
        module = _import_file(Path(location))
    else:
        sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(location)
        except ModuleNotFoundError as error:
            raise TargetError(f"cannot import {location}: {error}") from None
    worker = getattr(module, attribute, None)
    if not isinstance(worker, Worker):
        found = "nothing" if worker is None else f"a {type(worker).__name__}"
        raise TargetError(f"{location}:{attribute} is {found}, not a notebridge_worker.Worker")
    return worker


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise TargetError(f"no such file: {path}")
    sys.path.insert(0, str(path.resolve().parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise TargetError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="notebridge-worker", description="Serve notebridge contract handlers over NATS."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="serve the handlers of a Worker until SIGTERM or SIGINT",
        description="Serve the handlers of a Worker until SIGTERM or SIGINT.",
    )
    run.add_argument(
        "target",
        help="the Worker to serve: module:attr or path/to/file.py:attr (attr: 'worker')",
    )
    run.add_argument(
        "--nats-url",
        default=os.environ.get(ENV_NATS_URL, DEFAULT_NATS_URL),
        help=f"NATS server URL (${ENV_NATS_URL}, default {DEFAULT_NATS_URL})",
    )
    run.add_argument(
        "--contracts-dir",
        default=os.environ.get(ENV_CONTRACTS_DIR),
        help=f"directory of contract manifests (${ENV_CONTRACTS_DIR}; default: the Worker's)",
    )
    run.add_argument(
        "--max-inflight",
        type=_positive_int,
        default=os.environ.get(ENV_MAX_INFLIGHT),
        help=f"requests worked on at once before answering busy (${ENV_MAX_INFLIGHT})",
    )
    run.add_argument("--name", help="NATS micro service name (default: the Worker's)")
    run.add_argument("--log-level", default="INFO", choices=LOG_LEVELS, type=str.upper)
    return parser
