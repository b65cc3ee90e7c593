"""The ``notebridge-worker`` command: ``run`` a worker, ``test`` it against its examples.

Exit status: 0 after a graceful stop or when every example passes; 1 when an example fails
or NATS refuses the worker; 2 when the target, its contracts or the arguments are wrong.
With ``run --restart``, the last worker's status when the supervisor gives up or stops.
"""

import argparse
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from notebridge_worker import models, tracing
from notebridge_worker.config import POOLS
from notebridge_worker.connection import (
    DEFAULT_NATS_URL,
    ConnectError,
    NatsOptions,
    env_var,
    flag,
)
from notebridge_worker.contracts import ContractError
from notebridge_worker.errors import StartError
from notebridge_worker.loader import TargetError, load_worker
from notebridge_worker.remote import ENV_CONTRACTS_DIR, ENV_CONTRACTS_URL, local_contracts_dir
from notebridge_worker.supervisor import (
    DEFAULT_RESTART_LIMIT,
    DEFAULT_RESTART_WINDOW,
    Supervisor,
    supervise_command,
)
from notebridge_worker.testing import TestClient
from notebridge_worker.worker import DEFAULT_GRACE_SECONDS, Worker

ENV_MAX_INFLIGHT = "NOTEBRIDGE_MAX_INFLIGHT"
ENV_POOL = "NOTEBRIDGE_POOL"
ENV_POOL_SIZE = "NOTEBRIDGE_POOL_SIZE"
ENV_GRACE_SECONDS = "NOTEBRIDGE_GRACE_SECONDS"
ENV_WORKER_NAME = "NOTEBRIDGE_WORKER_NAME"
ENV_READY_FILE = "NOTEBRIDGE_READY_FILE"
ENV_LOG_LEVEL = "NOTEBRIDGE_LOG_LEVEL"
ENV_RESTART = "NOTEBRIDGE_RESTART"
ENV_RESTART_LIMIT = "NOTEBRIDGE_RESTART_LIMIT"
ENV_RESTART_WINDOW = "NOTEBRIDGE_RESTART_WINDOW"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
NATS_HELP = {
    "url": "NATS server URL; several, comma-separated, for a cluster",
    "user": "user name to log in with",
    "password": "password of --nats-user (prefer the variable: flags show in ps)",
    "token": "token to log in with (prefer the variable)",
    "nkey_seed": "file holding an NKey seed to log in with",
    "creds": "credentials file (user JWT and seed) to log in with",
    "tls_ca": "CA certificate file that verifies the server (default: the system's CAs)",
    "tls_cert": "client certificate file, for servers that verify clients",
    "tls_key": "private key file of --nats-tls-cert",
}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    args = _parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return args.command(args)
    except (TargetError, ContractError, StartError) as error:
        print(f"notebridge-worker: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ConnectError as error:
        print(f"notebridge-worker: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        # Ctrl-C while a notebook's cells run: nothing is being served yet.
        return EXIT_INTERRUPTED


def _run(args: argparse.Namespace) -> int:
    if args.restart:
        # The child runs this same command, less --restart: the variable too, or each
        # child would supervise one of its own.
        env = {name: value for name, value in os.environ.items() if name != ENV_RESTART}
        supervisor = Supervisor(
            supervise_command(args.argv),
            name=args.target,
            limit=args.restart_limit,
            window=args.restart_window,
            env=env,
        )
        return supervisor.run()
    worker = _load(args)
    worker.configure(
        name=args.name, max_inflight=args.max_inflight, pool=args.pool, pool_size=args.pool_size
    )
    options = NatsOptions(**{name: getattr(args, f"nats_{name}") for name in NATS_HELP})
    # Spans go out over OTLP when the standard OTEL_* variables say where (tracing.py).
    traced = tracing.configure_from_environment(service_name=worker.name)
    try:
        # An unreachable server is retried, and logged, until it answers: a worker may start
        # before NATS does. Credentials it refuses end the run (ConnectError).
        worker.run(options=options, grace_seconds=args.grace_seconds, ready_file=args.ready_file)
    finally:
        if traced:
            tracing.shutdown()  # the spans of the last requests
    return 0


def _test(args: argparse.Namespace) -> int:
    worker = _load(args)
    results = TestClient(worker).run_examples(args.contract or None)
    if not results:
        served = ", ".join(worker.served)
        print(
            f"notebridge-worker: no examples to run: {worker.name} serves {served}", file=sys.stderr
        )
        return EXIT_USAGE
    for result in results:
        print(result)
    failed = sum(not result.passed for result in results)
    print(f"examples: {len(results) - failed} passed, {failed} failed")
    return EXIT_FAILED if failed else 0


def _load(args: argparse.Namespace) -> Worker:
    location = args.contracts_url or args.contracts_dir
    contracts_dir = local_contracts_dir(location) if location else None
    if contracts_dir is not None:
        # The Worker the target builds takes its contracts from here, whatever contracts_dir
        # its code names (remote.contracts_location): absolute, as a notebook's cells run in
        # the notebook's directory, and fetched once.
        os.environ[ENV_CONTRACTS_DIR] = str(contracts_dir)
        os.environ.pop(ENV_CONTRACTS_URL, None)
    worker = load_worker(args.target)
    if contracts_dir is not None and contracts_dir.resolve() != worker.contracts_dir.resolve():
        worker.use_contracts_dir(contracts_dir)
    return worker


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _log_level(text: str) -> str:
    if text.upper() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"must be one of {', '.join(LOG_LEVELS)}, not {text}")
    return text.upper()


def _seconds(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, not {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="notebridge-worker",
        description="Serve notebridge contract handlers over NATS, or test them offline.",
        epilog="Every option has a NOTEBRIDGE_* variable, named in its help; a flag wins.",
    )
    commands = parser.add_subparsers(dest="command_name", required=True)
    run = commands.add_parser(
        "run",
        help="serve the handlers of a Worker until SIGTERM or SIGINT",
        description="Serve the handlers of a Worker until SIGTERM or SIGINT; a second signal "
        "stops without waiting for requests in flight.",
    )
    run.set_defaults(command=_run)
    _target_arguments(run)
    nats_options = run.add_argument_group("NATS connection")
    for name, text in NATS_HELP.items():
        default = DEFAULT_NATS_URL if name == "url" else None
        _option(nats_options, f"--{flag(name)}", env_var(name), text, default=default)
    serving = run.add_argument_group("serving")
    _option(
        serving,
        "--max-inflight",
        ENV_MAX_INFLIGHT,
        "requests worked on at once before answering busy (default: the Worker's; 64, or four "
        "batches of the largest batch handler)",
        type=_positive_int,
    )
    _option(
        serving,
        "--pool",
        ENV_POOL,
        "where plain def handlers run: thread, or process for CPU-bound code that holds the "
        "GIL (default: the Worker's, thread)",
        choices=POOLS,
    )
    _option(
        serving,
        "--pool-size",
        ENV_POOL_SIZE,
        "threads or processes of that pool (default: max-inflight threads, one process per CPU)",
        type=_positive_int,
    )
    _option(
        serving,
        "--grace-seconds",
        ENV_GRACE_SECONDS,
        "on SIGTERM/SIGINT, how long requests in flight may finish before they are answered "
        f"busy (default {DEFAULT_GRACE_SECONDS:g})",
        type=_seconds,
        default=DEFAULT_GRACE_SECONDS,
    )
    _option(serving, "--name", ENV_WORKER_NAME, "NATS micro service name (default: the Worker's)")
    _option(
        serving,
        "--ready-file",
        ENV_READY_FILE,
        "write this file once the worker serves (endpoints subscribed, job consumers bound) "
        "and remove it when it stops: a readiness probe for process managers and tests",
    )
    restart = run.add_argument_group("restarting")
    restart.add_argument(
        "--restart",
        action="store_true",
        default=os.environ.get(ENV_RESTART, "").lower() in ("1", "true", "yes", "on"),
        help="run the worker as a child process and start a new one when it dies (not when "
        f"it exits 0); SIGTERM and SIGINT are passed on to it (${ENV_RESTART}=1)",
    )
    _option(
        restart,
        "--restart-limit",
        ENV_RESTART_LIMIT,
        "with --restart, give up after this many deaths in a row, each within "
        f"--restart-window of its start (default {DEFAULT_RESTART_LIMIT})",
        type=_positive_int,
        default=DEFAULT_RESTART_LIMIT,
    )
    _option(
        restart,
        "--restart-window",
        ENV_RESTART_WINDOW,
        "with --restart, a worker that dies sooner than this many seconds after its start "
        "is restarted after a back-off (0.5 s, doubling up to 30 s) and counts towards "
        f"--restart-limit; one that ran longer is restarted at once (default "
        f"{DEFAULT_RESTART_WINDOW:g})",
        type=_seconds,
        default=DEFAULT_RESTART_WINDOW,
    )

    test = commands.add_parser(
        "test",
        help="run every example of the contracts a Worker serves, without NATS",
        description="Run every example of every contract the Worker serves through its "
        "handlers, with the validation a served request gets, without NATS. Prints PASS or "
        "FAIL per example; the exit status is 1 if any fails.",
    )
    test.set_defaults(command=_test)
    _target_arguments(test)
    test.add_argument(
        "--contract",
        action="append",
        metavar="NAME[/vN]",
        help="only this contract (every version, or vN); repeat for more",
    )
    models.add_command(commands, _contracts_options)
    return parser


def _contracts_url_option(parser: argparse.ArgumentParser) -> None:
    _option(
        parser,
        "--contracts-url",
        ENV_CONTRACTS_URL,
        "URL of a gateway to fetch the contracts from instead of a directory (cached in "
        "$NOTEBRIDGE_CACHE_DIR, digests checked); wins over the Worker's contracts_dir",
    )


def _contracts_options(parser: argparse.ArgumentParser) -> None:
    _option(parser, "--contracts-dir", ENV_CONTRACTS_DIR, "directory of contract manifests")
    _contracts_url_option(parser)


def _target_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target",
        help="module:attr, path/to/file.py[:attr] or path/to/notebook.ipynb[:attr]; without "
        ":attr, the one Worker it defines",
    )
    _option(
        parser,
        "--contracts-dir",
        ENV_CONTRACTS_DIR,
        "directory of contract manifests (default: the Worker's)",
    )
    _contracts_url_option(parser)
    _option(
        parser,
        "--log-level",
        ENV_LOG_LEVEL,
        f"{', '.join(LOG_LEVELS)} (default INFO)",
        type=_log_level,
        default="INFO",
    )


def _option(
    parser: Any,
    name: str,
    env: str,
    text: str,
    *,
    type: Callable[[str], Any] = str,  # argparse's own name for it
    default: Any = None,
    **kwargs: Any,
) -> None:
    """An option whose default is ``$env``; argparse converts and checks both alike."""
    parser.add_argument(
        name, type=type, default=os.environ.get(env) or default, help=f"{text} (${env})", **kwargs
    )
