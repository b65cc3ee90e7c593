"""The SDK as researchers get it: a wheel, installed in a fresh venv outside the repository.

The wheel is built offline with the pinned backend (as ``make dist`` does). The fresh venv
gets the SDK's dependencies from this venv's site-packages, where they are installed already,
but not the SDK itself: only the wheel can provide it, so a module the wheel leaves out, or a
missing entry point, fails here rather than on a researcher's machine.
"""

import shutil
import subprocess
import sys
import sysconfig
import textwrap
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from conftest import PYTHON_WORKER, TEST_CONTRACTS

WORKER = """
from notebridge_worker import Worker

worker = Worker(name="from-the-wheel", contracts_dir="testdata/contracts", exact_numbers=True)


@worker.handler("echo", version=1)
def echo(request):
    return request
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", out],
        cwd=PYTHON_WORKER,
        check=True,
        capture_output=True,
        timeout=120,
    )
    [built] = out.glob("notebridge_worker-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with the wheel installed; its dependencies seen from this venv."""
    home = tmp_path_factory.mktemp("fresh")
    venv.create(home / "venv", with_pip=True)
    python = home / "venv" / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # A path listed in a .pth file is added as it is: the .pth files inside it (this venv's
    # editable install of the SDK among them) are not read, so the SDK comes from the wheel.
    (Path(site) / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", wheel],
        check=True,
        timeout=120,
    )
    return home


def run(fresh: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """Run a command of the fresh venv in a folder outside the repository."""
    return subprocess.run(
        [str(fresh / "venv" / "bin" / command[0]), *command[1:]],
        cwd=fresh,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_sdk_comes_from_the_wheel(fresh: Path) -> None:
    found = run(
        fresh, "python", "-c", "import notebridge_worker; print(notebridge_worker.__file__)"
    )
    assert found.returncode == 0, found.stderr
    assert found.stdout.startswith(str(fresh / "venv")), found.stdout


def test_the_installed_command_runs_a_workers_examples(fresh: Path) -> None:
    (fresh / "my_worker.py").write_text(textwrap.dedent(WORKER))
    # The test contracts, and the schemas they point at from beside them.
    for folder in (TEST_CONTRACTS, TEST_CONTRACTS.parent / "schemas"):
        shutil.copytree(folder, fresh / "testdata" / folder.name, dirs_exist_ok=True)
    tested = run(fresh, "notebridge-worker", "test", "my_worker.py")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "PASS echo/v1" in tested.stdout
    assert "FAIL" not in tested.stdout


def test_the_pytest_plugin_is_registered(fresh: Path) -> None:
    plugins = run(
        fresh,
        "python",
        "-c",
        "from importlib.metadata import entry_points; "
        "print([e.value for e in entry_points(group='pytest11')])",
    )
    assert "notebridge_worker.pytest_plugin" in plugins.stdout, plugins.stderr


def test_the_wheel_asks_for_ranges_not_pins(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(archive.read(name).decode())
        files = archive.namelist()
    runtime = [r for r in metadata.get_all("Requires-Dist") or [] if "extra ==" not in r]
    assert runtime, "no runtime dependencies in the wheel's metadata"
    pinned = [requirement for requirement in runtime if "==" in requirement.split(";")[0]]
    assert pinned == [], f"pinned runtime dependencies clash with a researcher's own: {pinned}"
    assert "notebridge_worker/py.typed" in files
    assert "notebridge_worker/contracts/fastcheck.py" in files
