"""docker-compose.yml is for users; no Docker engine runs here, so these tests check, without
running it, that everything it names exists and that every setting is one the programs read."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import GATEWAY_BIN, REPO

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
# Services of the worker image that run a worker; the RAG example's outbox relay runs on it too,
# with an entrypoint of its own.
WORKERS = [
    name
    for name, svc in SERVICES.items()
    if "python-worker/Dockerfile" in str(svc.get("build")) and "entrypoint" not in svc
]
RELAY = REPO / "python-worker" / "examples" / "rag" / "outbox_relay.py"
# What the RAG example's worker modules read (examples/rag/catalog.py, embedder.py).
RAG_VARIABLES = {"NOTEBRIDGE_RAG_DATABASE_URL", "NOTEBRIDGE_EMBEDDER"}
# The variables of the official postgres image (its documentation) that the stack sets.
POSTGRES_IMAGE_VARIABLES = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}


def known_variables() -> set[str]:
    """The NOTEBRIDGE_* variables the gateway, the worker CLI and the outbox relay document in
    their --help, and those the RAG example's workers read."""
    gateway = subprocess.run([str(GATEWAY_BIN), "serve", "-h"], capture_output=True, text=True)
    worker = subprocess.run(
        [str(Path(sys.executable).parent / "notebridge-worker"), "run", "--help"],
        capture_output=True,
        text=True,
    )
    relay = subprocess.run([sys.executable, str(RELAY), "--help"], capture_output=True, text=True)
    helps = gateway.stdout + gateway.stderr + worker.stdout + relay.stdout
    return set(re.findall(r"NOTEBRIDGE_[A-Z_]+", helps)) | RAG_VARIABLES


NODES = ["nats-1", "nats-2", "nats-3"]
GATEWAYS = ["gateway-1", "gateway-2"]
NATS_CONF = (REPO / "deploy" / "nats" / "nats.conf").read_text()


def test_the_stack_has_a_three_node_cluster_two_gateways_and_workers():
    assert set(NODES + GATEWAYS) <= SERVICES.keys()
    assert "worker" in WORKERS, "docker compose up --scale worker=4 names a service worker"
    for node in NODES:
        command = SERVICES[node]["command"]
        assert command[:2] == ["-c", "/etc/nats/nats.conf"], node
        assert command[command.index("--name") + 1] == node
        assert "./deploy/nats/nats.conf:/etc/nats/nats.conf:ro" in SERVICES[node]["volumes"]
    # The config: JetStream, the three routes, the two users of docs/operations.md.
    assert "jetstream" in NATS_CONF
    for node in NODES:
        assert f"nats-route://{node}:6222" in NATS_CONF
    operations = (REPO / "docs" / "operations.md").read_text()
    permissions = re.search(r"\{user: worker.*?allow_responses[^}]*\}", NATS_CONF, re.DOTALL)
    assert permissions is not None
    assert " ".join(permissions[0].split()) in " ".join(operations.split()), (
        "the worker's permissions differ from docs/operations.md"
    )
    for gateway in GATEWAYS:
        env = SERVICES[gateway]["environment"]
        assert env["NOTEBRIDGE_JS_REPLICAS"] == "3", gateway
        assert all(f"@{node}:4222" in env["NOTEBRIDGE_NATS_URL"] for node in NODES), gateway


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_build_names_files_that_exist(name):
    build = SERVICES[name].get("build")
    if build is None:
        assert "image" in SERVICES[name]
        return
    context = REPO / build["context"]
    dockerfile = context / build["dockerfile"]
    assert dockerfile.is_file(), dockerfile
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY") and "--from" not in line:
            *sources, _ = line.split()[1:]
            for source in sources:
                assert (context / source).exists(), f"{dockerfile}: COPY {source}"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_variable_is_one_the_programs_read(name):
    """Our programs' variables are in their --help; a NATS node's, in its config file."""
    known = known_variables() | set(re.findall(r"\$([A-Z_]+)", NATS_CONF))
    if SERVICES[name].get("image", "").startswith("pgvector/pgvector:"):
        known |= POSTGRES_IMAGE_VARIABLES
    unknown = set(SERVICES[name].get("environment", {})) - known
    assert not unknown, f"{name} sets variables nothing reads: {unknown}"


@pytest.mark.parametrize("name", WORKERS)
def test_workers_run_targets_that_exist_and_reach_nats(name):
    target = SERVICES[name]["command"][0]
    path, _, attr = target.partition(":")
    assert (REPO / path).is_file(), target
    if path.endswith(".ipynb"):  # a notebook is its worker (docs/researchers.md)
        assert "Worker(" in (REPO / path).read_text(), target
    else:
        assert attr, target
        assert f"{attr} = Worker(" in (REPO / path).read_text(), target
    url = SERVICES[name]["environment"]["NOTEBRIDGE_NATS_URL"]
    nodes = [f"nats://worker:${{NOTEBRIDGE_NATS_WORKER_PASSWORD}}@{node}:4222" for node in NODES]
    assert url.split(",") == nodes, "a worker logs in as the worker user, on every node"


@pytest.mark.parametrize("name", WORKERS)
def test_a_worker_that_dies_is_restarted(name):
    """Docker's restart policy plays the part of ``notebridge-worker run --restart``."""
    assert SERVICES[name].get("restart") in {"on-failure", "always", "unless-stopped"}, name


def test_every_example_contract_has_a_worker_in_the_stack():
    """Each contracts/<name>.vN.json is served by the example of that name (a composed contract
    has no worker: the gateway runs it)."""
    served = {Path(SERVICES[name]["command"][0].partition(":")[0]).stem for name in WORKERS}
    contracts = {
        path.name.split(".")[0]
        for path in (REPO / "contracts").glob("*.json")
        if "compose" not in json.loads(path.read_text())
    }
    assert served == contracts


def test_the_rag_example_has_its_database_and_relay():
    """PostgreSQL with pgvector, loaded with the example's schema and seed on its first start,
    on loopback only; the relay runs the example's module against it and the first gateway."""
    postgres = SERVICES["postgres"]
    assert postgres["image"].startswith("pgvector/pgvector:")
    assert postgres["ports"] == ["127.0.0.1:5432:5432"]
    mounted = [volume.split(":")[0] for volume in postgres["volumes"]]
    for script in ("schema.sql", "seed.sql"):
        assert f"./python-worker/examples/rag/{script}" in mounted
        assert (REPO / "python-worker" / "examples" / "rag" / script).is_file()
    relay = SERVICES["outbox-relay"]
    assert relay["entrypoint"] == ["python", "python-worker/examples/rag/outbox_relay.py"]
    assert relay["environment"]["NOTEBRIDGE_GATEWAY_URL"] == "http://gateway-1:8080"
    database = "postgresql://notebridge:${NOTEBRIDGE_POSTGRES_PASSWORD}@postgres:5432/notebridge"
    for name in ("answer", "embed", "outbox-relay"):
        assert SERVICES[name]["environment"]["NOTEBRIDGE_RAG_DATABASE_URL"] == database, name
    example = (REPO / "deploy" / "compose.env.example").read_text()
    for variable in ("NOTEBRIDGE_POSTGRES_PASSWORD", "NOTEBRIDGE_RELAY_API_KEY"):
        assert f"\n{variable}=" in example


def test_gateways_join_every_node_and_publish_only_on_loopback():
    for gateway, port in zip(GATEWAYS, (8080, 8081), strict=True):
        url = SERVICES[gateway]["environment"]["NOTEBRIDGE_NATS_URL"]
        nodes = [f"nats://gateway:${{NOTEBRIDGE_NATS_GATEWAY_PASSWORD}}@{n}:4222" for n in NODES]
        assert url.split(",") == nodes, gateway
        assert SERVICES[gateway]["ports"] == [f"127.0.0.1:{port}:8080"]
    dockerfile = (REPO / "gateway/Dockerfile").read_text()
    # Inside its container the gateway must listen on every interface.
    assert "NOTEBRIDGE_LISTEN=0.0.0.0:8080" in dockerfile


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_restarts_and_says_when_it_is_healthy(name):
    """A restart policy on every service, and a healthcheck: the compose file's, or its
    image's HEALTHCHECK (the gateway probes its own /readyz, a worker its ready file)."""
    service = SERVICES[name]
    assert service.get("restart") in {"on-failure", "always", "unless-stopped"}, name
    build = service.get("build")
    in_image = (
        build is not None
        and "HEALTHCHECK" in (REPO / build["context"] / build["dockerfile"]).read_text()
    )
    assert "healthcheck" in service or in_image, name


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_services_wait_for_what_they_need_to_be_healthy(name):
    needs = SERVICES[name].get("depends_on", {})
    assert all(cond == {"condition": "service_healthy"} for cond in needs.values()), name
    if name not in [*NODES, "postgres"]:  # those need nothing
        assert needs, f"{name} starts before NATS is ready"
    if "NOTEBRIDGE_RAG_DATABASE_URL" in SERVICES[name].get("environment", {}):
        assert "postgres" in needs, f"{name} starts before PostgreSQL is ready"


def test_the_images_run_as_non_root_users():
    for dockerfile in ("gateway/Dockerfile", "python-worker/Dockerfile"):
        text = (REPO / dockerfile).read_text()
        user = re.findall(r"^USER (\S+)", text, re.MULTILINE)
        assert user, dockerfile
        assert not user[-1].startswith("root"), dockerfile


KUBERNETES = REPO / "deploy" / "kubernetes"


def manifests(name: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all((KUBERNETES / name).read_text()) if doc]


def containers() -> list[dict]:
    return [
        container
        for name in ("gateway.yaml", "workers.yaml")
        for doc in manifests(name)
        if doc["kind"] == "Deployment"
        for container in doc["spec"]["template"]["spec"]["containers"]
    ]


def test_the_kubernetes_deployments_set_only_variables_the_programs_read():
    known = known_variables()
    for container in containers():
        names = {env["name"] for env in container.get("env", [])}
        assert names <= known, f"{container['name']}: {names - known}"
        assert "NOTEBRIDGE_NATS_URL" in names
        url = next(env for env in container["env"] if env["name"] == "NOTEBRIDGE_NATS_URL")
        assert "secretKeyRef" in url["valueFrom"], "a NATS URL with its password is a secret"


def test_the_kubernetes_pods_run_as_non_root_and_probe_what_exists():
    for name in ("gateway.yaml", "workers.yaml"):
        for doc in manifests(name):
            if doc["kind"] == "Deployment":
                assert doc["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    [gateway] = [c for c in containers() if c["name"] == "gateway"]
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    envs = {env["name"]: env.get("value") for env in gateway["env"]}
    assert envs["NOTEBRIDGE_JS_REPLICAS"] == "3"
    for worker in (c for c in containers() if c["name"] == "worker"):
        ready = worker["readinessProbe"]["exec"]["command"]
        assert ready == ["test", "-f", "/tmp/notebridge-ready"]  # python-worker/Dockerfile's
        target = worker["args"][0].partition(":")[0]
        assert (REPO / target).is_file(), target


def test_the_nats_chart_values_lock_the_bus_as_documented():
    values = yaml.safe_load((KUBERNETES / "nats-values.yaml").read_text())
    assert values["config"]["cluster"]["replicas"] == 3
    assert values["config"]["jetstream"]["enabled"] is True
    users = {u["user"]: u for u in values["config"]["merge"]["authorization"]["users"]}
    assert set(users) == {"gateway", "worker"}
    operations = " ".join((REPO / "docs" / "operations.md").read_text().split())
    for rule in ("subscribe", "publish"):
        allowed = users["worker"]["permissions"][rule]["allow"]
        assert json.dumps(allowed) in operations, f"the worker's {rule} rules differ from the docs"


def test_keda_scales_on_metrics_and_consumers_that_exist():
    scaled = {doc["metadata"]["name"]: doc for doc in manifests("keda.yaml")}
    inflight = scaled["summarize-worker"]["spec"]["triggers"][0]["metadata"]["query"]
    assert "notebridge_inflight_requests" in inflight
    jobs = scaled["report-worker"]["spec"]["triggers"][0]["metadata"]
    assert (jobs["stream"], jobs["consumer"]) == ("NB_JOBS", "nb-jobs-report-v1")
    deployments = {doc["metadata"]["name"] for doc in manifests("workers.yaml")}
    assert {s["spec"]["scaleTargetRef"]["name"] for s in scaled.values()} <= deployments
