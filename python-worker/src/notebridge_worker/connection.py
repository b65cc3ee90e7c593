"""How a worker reaches NATS: the server URL, credentials and TLS, from code or NOTEBRIDGE_*.

Every setting has an environment variable, so a container or a CI job configures a worker
without flags, and secrets stay out of the process list.
"""

import asyncio
import contextlib
import logging
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import nats
import nats.errors
from nats.aio.client import Client

from notebridge_worker.protocol import WORKER_INBOX_PREFIX

logger = logging.getLogger("notebridge_worker")

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
RECONNECT_WAIT_SECONDS = 0.5
"""Pause between attempts to reach a server that went away; short, so a restart costs little."""


class ConnectError(Exception):
    """NATS cannot be used with these settings: a file is missing or the server refused them.

    An unreachable server is not one: a worker may start before NATS does, so it keeps trying.
    """


@dataclass(frozen=True)
class NatsOptions:
    """Where the NATS server is and how to log in; each field has a ``NOTEBRIDGE_*`` variable.

    Credentials: ``user`` and ``password``, or ``token``, or an NKey ``nkey_seed`` file, or a
    ``creds`` file (a user JWT and its seed). They may also be in the URL
    (``nats://user:password@host:4222``). TLS: ``tls_ca`` verifies the server with this CA
    instead of the system's; ``tls_cert`` and ``tls_key`` are the client's own certificate.
    """

    url: str = DEFAULT_NATS_URL
    user: str | None = None
    password: str | None = None
    token: str | None = None
    nkey_seed: str | None = None
    creds: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "NatsOptions":
        """Read every field from its variable (``NOTEBRIDGE_NATS_URL`` and so on)."""
        environ = os.environ if environ is None else environ
        values = {f.name: environ.get(env_var(f.name)) for f in fields(cls)}
        return cls(**{name: value for name, value in values.items() if value})

    def connect_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``nats.connect`` these options stand for.

        Raises ConnectError when a file they name does not exist, or TLS cannot use it.
        """
        for name in ("nkey_seed", "creds", "tls_ca", "tls_cert", "tls_key"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ConnectError(f"{env_var(name)} / --{flag(name)}: no such file: {path}")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConnectError("a TLS client certificate needs both --nats-tls-cert and its key")
        kwargs: dict[str, Any] = {
            "user": self.user,
            "password": self.password,
            "token": self.token,
            "nkeys_seed": self.nkey_seed,
            "user_credentials": self.creds,
        }
        if self.tls_ca or self.tls_cert:
            kwargs["tls"] = self._tls_context()
        return {key: value for key, value in kwargs.items() if value is not None}

    def _tls_context(self) -> ssl.SSLContext:
        try:
            context = ssl.create_default_context(cafile=self.tls_ca)
            if self.tls_cert and self.tls_key:
                context.load_cert_chain(self.tls_cert, self.tls_key)
        except ssl.SSLError as error:
            raise ConnectError(f"TLS files cannot be used: {error}") from None
        return context


def env_var(field_name: str) -> str:
    """``url`` -> ``NOTEBRIDGE_NATS_URL``."""
    return f"NOTEBRIDGE_NATS_{field_name.upper()}"


def flag(field_name: str) -> str:
    """``tls_ca`` -> ``nats-tls-ca``, the command line's name of a field."""
    return "nats-" + field_name.replace("_", "-")


async def connect(options: NatsOptions, name: str) -> Client:
    """Connect to NATS, retrying until the server answers; it stays connected across restarts.

    Raises ConnectError at once if the server refuses the credentials or TLS fails, since
    trying again cannot help; the caller sees why instead of a worker that never serves.
    """
    kwargs = options.connect_kwargs()
    refused: asyncio.Future[Exception] = asyncio.get_running_loop().create_future()
    connected: list[Client] = []

    async def on_disconnected() -> None:
        # close() disconnects too, on purpose: only a lost connection is worth a warning.
        if connected and connected[0].is_closed:
            return
        logger.warning("disconnected from NATS; reconnecting")

    async def on_error(error: Exception) -> None:
        if not refused.done() and _is_refusal(error):
            refused.set_result(error)
            return
        logger.warning("NATS connection error: %s", error)

    connecting = asyncio.ensure_future(
        nats.connect(
            # Several servers of a cluster, comma-separated, as the gateway takes them.
            [url.strip() for url in options.url.split(",")],
            name=name,
            # A worker may start before NATS and outlives its restarts: it keeps trying.
            max_reconnect_attempts=-1,
            reconnect_time_wait=RECONNECT_WAIT_SECONDS,
            # Inboxes of its own, which a locked-down bus lets only workers read.
            inbox_prefix=WORKER_INBOX_PREFIX,
            error_cb=on_error,
            disconnected_cb=on_disconnected,
            reconnected_cb=_log_reconnected,
            **kwargs,
        )
    )
    await asyncio.wait({connecting, refused}, return_when=asyncio.FIRST_COMPLETED)
    if connecting.done():
        connected.append(connecting.result())
        return connected[0]
    connecting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await connecting
    raise ConnectError(f"NATS at {_redacted(options.url)} refused this worker: {refused.result()}")


def _is_refusal(error: Exception) -> bool:
    """Errors that another attempt cannot fix: credentials refused, TLS that does not verify."""
    if isinstance(error, nats.errors.AuthorizationError | ssl.SSLError):
        return True
    # nats-py reports a refused CONNECT as a plain Error with the server's -ERR text.
    text = str(error).lower()
    return "authorization violation" in text or "authentication" in text


def _redacted(url: str) -> str:
    """``url`` (comma-separated servers) without the passwords or tokens it may hold."""
    shown = []
    for server in url.split(","):
        scheme, separator, rest = server.strip().rpartition("://")
        _, at, host = rest.rpartition("@")
        shown.append(f"{scheme}{separator}{'***@' if at else ''}{host}")
    return ",".join(shown)


async def _log_reconnected() -> None:
    logger.info("reconnected to NATS")
