"""Contracts from a running gateway: no checkout of the product repo needed.

The gateway describes each contract version at ``GET /api/{name}/v{N}`` (docs/http-api.md):
its manifest's fields and every schema file the contract reaches, keyed by its path relative
to the manifest's directory. :func:`fetch_contracts` writes those out as a contracts
directory in a cache (manifests ``<name>.v<N>.json``, schema files at their relative paths,
so every ``$ref`` resolves as it does in the repo), loads it with the ordinary loader and
checks that each contract's digest equals the gateway's. The gateway serves the files
verbatim (``schema_sources``), so the cache holds what the repo holds; the digest hashes a
canonical form of each file (docs/protocol.md), so their spelling would not matter anyway.

``Worker(contracts_dir="http://gateway:8080")``, ``--contracts-url`` and
``$NOTEBRIDGE_CONTRACTS_URL`` all come here.
"""

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath
from typing import Any

from notebridge_worker import exactjson
from notebridge_worker.contracts import Contract, ContractError, load_contracts
from notebridge_worker.contracts.manifest import MANIFEST_FIELDS

ENV_CONTRACTS_URL = "NOTEBRIDGE_CONTRACTS_URL"
ENV_CONTRACTS_DIR = "NOTEBRIDGE_CONTRACTS_DIR"
ENV_CACHE_DIR = "NOTEBRIDGE_CACHE_DIR"
TIMEOUT_SECONDS = 10.0


def is_url(location: str | os.PathLike[str] | None) -> bool:
    """Whether ``location`` names a gateway (http or https) rather than a directory."""
    return isinstance(location, str) and location.lower().startswith(("http://", "https://"))


def contracts_location(
    in_code: str | os.PathLike[str] | None, defining_file: str | None
) -> tuple[Path, str]:
    """Where a Worker's contracts come from, and how to say so in the log.

    The deployment decides before the code: ``$NOTEBRIDGE_CONTRACTS_URL``, then
    ``$NOTEBRIDGE_CONTRACTS_DIR`` (``--contracts-url`` and ``--contracts-dir`` set them), so a
    notebook that says ``contracts_dir=`` for the laptop runs unchanged against a gateway
    with no checkout. Then ``in_code``: a relative path is relative to ``defining_file``, the
    file that builds the Worker (a notebook's relative paths are relative to the notebook);
    without one (a REPL, a Jupyter kernel), to the working directory. Last ``./contracts``.
    """
    for variable in (ENV_CONTRACTS_URL, ENV_CONTRACTS_DIR):
        value = os.environ.get(variable)
        if value:
            return local_contracts_dir(value), f"${variable}={value}"
    if in_code is not None and str(in_code) != "":
        if is_url(in_code):
            return local_contracts_dir(in_code), f"contracts_dir={in_code}"
        path = Path(in_code)
        if not path.is_absolute() and defining_file:
            path = Path(defining_file).absolute().parent / path
        return local_contracts_dir(path), f"contracts_dir={os.fspath(in_code)!r}"
    return local_contracts_dir("contracts"), "./contracts"


def local_contracts_dir(location: str | os.PathLike[str]) -> Path:
    """An absolute contracts directory: ``location`` itself, or the gateway's contracts cached."""
    if is_url(location):
        return fetch_contracts(str(location))
    return Path(location).absolute()


def fetch_contracts(
    url: str,
    names: list[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Write the contracts a gateway serves into a cache directory and return its path.

    ``names`` picks contracts (``summarize`` for every version, ``summarize/v1`` for one);
    by default every contract comes. The directory is named after its content, so loading
    the same contracts again reuses it. Raises ContractError if the gateway cannot be
    reached, lacks a named contract, or a digest computed here differs from the gateway's.
    """
    base = url.rstrip("/")
    descriptions = [_get(base, href) for href in _hrefs(base, names)]
    if not descriptions:
        raise ContractError(f"{base}/api: the gateway serves no contracts")
    files = _files(base, descriptions)
    content = hashlib.sha256()
    for relative in sorted(files):
        content.update(f"{relative}\n{len(files[relative])}\n".encode())
        content.update(files[relative])
    root = Path(cache_dir or os.environ.get(ENV_CACHE_DIR) or _default_cache()).absolute()
    target = root / content.hexdigest()[:32]
    if not target.is_dir():
        root.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=root, prefix=".partial-"))
        for relative, data in files.items():
            path = scratch / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        try:
            scratch.rename(target)
        except OSError:  # another process wrote the same content first
            _remove(scratch)
    contracts_dir = target / _manifest_dir(descriptions)
    check_digests(base, load_contracts(contracts_dir), descriptions)
    return contracts_dir


def check_digests(url: str, contracts: dict[str, Contract], descriptions: list[Any]) -> None:
    """Raise ContractError unless every contract's digest is the one the gateway announced."""
    problems = []
    for description in descriptions:
        ref = f"{description['name']}/v{description['version']}"
        contract = contracts.get(ref)
        if contract is None:
            problems.append(f"{url}/api/{ref}: not loaded from the gateway's description")
        elif contract.digest != description.get("digest"):
            problems.append(
                f"{url}/api/{ref}: digest mismatch: the gateway announces "
                f"{description.get('digest')}, its schema files as received give "
                f"{contract.digest}"
            )
    if problems:
        raise ContractError("\n".join(problems))


def _hrefs(base: str, names: list[str] | None) -> list[str]:
    catalog = _get(base, "/api")
    entries = catalog.get("contracts") if isinstance(catalog, dict) else None
    if not isinstance(entries, list):
        raise ContractError(f"{base}/api: not a notebridge gateway catalog")
    available = {
        f"{entry['name']}/v{version['version']}": version["href"]
        for entry in entries
        for version in entry["versions"]
    }
    if names is None:
        return list(available.values())
    hrefs = []
    for name in names:
        picked = [href for ref, href in available.items() if name in (ref, ref.split("/")[0])]
        if not picked:
            known = ", ".join(sorted(available)) or "none"
            raise ContractError(f"{base}/api: no contract {name} (it has: {known})")
        hrefs.extend(href for href in picked if href not in hrefs)
    return hrefs


def _get(base: str, path: str) -> Any:
    url = base + path
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            body = response.read()
    except urllib.error.HTTPError as error:
        raise ContractError(f"{url}: the gateway answered {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise ContractError(f"{url}: cannot reach the gateway: {reason}") from None
    try:
        # Exact: an example's numbers must keep every digit they have in the manifest.
        return exactjson.parse_exact(body)
    except ValueError as error:
        raise ContractError(f"{url}: not JSON: {error}") from None


def _manifest_dir(descriptions: list[Any]) -> PurePosixPath:
    """Where manifests go below the cache entry: deep enough for every ``../`` schema path."""
    depth = 0
    for description in descriptions:
        for relative in _schema_sources(description):
            parts = PurePosixPath(relative).parts
            ups = next((i for i, part in enumerate(parts) if part != ".."), len(parts))
            depth = max(depth, ups)
    return PurePosixPath(*(["up"] * max(depth - 1, 0)), "contracts")


def _files(base: str, descriptions: list[Any]) -> dict[str, bytes]:
    """Every file of the contracts directory, by its path relative to the cache entry."""
    manifest_dir = _manifest_dir(descriptions)
    files: dict[str, bytes] = {}
    for description in descriptions:
        where = f"{base}/api/{description.get('name')}/v{description.get('version')}"
        # The description's manifest fields; the rest (digest, href...) are the gateway's.
        manifest = {
            key: value
            for key, value in description.items()
            if key in MANIFEST_FIELDS and value not in ("", None)
        }
        if manifest.get("mode") == "stream" and "chunk_schema" not in manifest:
            raise ContractError(
                f"{where}: the gateway does not describe the stream contract's chunk_schema, "
                "merge and idle_timeout_seconds; it is too old to load contracts from"
            )
        name = f"{manifest.get('name')}.v{manifest.get('version')}.json"
        files[str(manifest_dir / name)] = exactjson.dumps(manifest)
        for relative, text in _schema_sources(description).items():
            path = os.path.normpath(manifest_dir / relative)
            if path.startswith("..") or os.path.isabs(path):
                raise ContractError(f"{where}: schema path {relative!r} leaves the contracts")
            data = text.encode() if isinstance(text, str) else b""
            if files.setdefault(path, data) != data:
                raise ContractError(f"{where}: {relative} differs from another contract's copy")
    return files


def _schema_sources(description: Any) -> dict[str, Any]:
    """The schema files' text, verbatim: the digest is over their bytes."""
    sources = description.get("schema_sources")
    if not isinstance(sources, dict):
        where = f"{description.get('name')}/v{description.get('version')}"
        raise ContractError(
            f"{where}: the gateway serves no schema_sources, only parsed schemas, so the "
            "schema files' bytes and the contract digest cannot be reproduced; upgrade the "
            "gateway"
        )
    return sources


def _default_cache() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "notebridge" / "contracts"


def _remove(directory: Path) -> None:
    for path in sorted(directory.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    directory.rmdir()


__all__ = [
    "ENV_CACHE_DIR",
    "ENV_CONTRACTS_DIR",
    "ENV_CONTRACTS_URL",
    "check_digests",
    "fetch_contracts",
    "is_url",
    "local_contracts_dir",
]
