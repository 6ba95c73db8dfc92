"""`pip install` of the project alone gives a working `ec` and SDK, and `elasticcode[server]` is what `make run` runs.

The project is built as it would be published (an sdist of the working tree, then a wheel from that sdist) and
installed with uv into a fresh virtualenv that has nothing else: no Django, no requirements file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import uv
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

BASE_DIR = Path(__file__).resolve().parents[1]


def _run(*args: str | Path, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _working_tree(dest: Path) -> Path:
    """The checkout as git sees it (tracked and new files, not ignored ones): building in a copy leaves no build/
    or egg-info behind in the checkout."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=BASE_DIR,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = BASE_DIR / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("packaging")
    source = _working_tree(tmp / "src")
    _run(uv.find_uv_bin(), "build", "--quiet", "--sdist", "--out-dir", tmp / "dist", source, cwd=tmp)
    [sdist] = (tmp / "dist").glob("elasticcode-*.tar.gz")
    _run(uv.find_uv_bin(), "venv", "--quiet", "--python", sys.executable, tmp / "venv", cwd=tmp)
    _run(uv.find_uv_bin(), "pip", "install", "--quiet", "--python", tmp / "venv" / "bin" / "python", sdist, cwd=tmp)
    yield tmp / "venv"


def test_pip_install_alone_gives_a_working_ec_and_sdk(venv: Path) -> None:
    ec = venv / "bin" / "ec"
    assert _run(ec, "--version", cwd=venv).strip() == "ec, version 0.1.0"
    usage = _run(ec, "--help", cwd=venv)
    for command in ("login", "ls", "proc", "task", "flow"):
        assert f"\n  {command} " in usage, usage
    imported = _run(
        venv / "bin" / "python",
        "-c",
        "import sys, flows.client\n"
        "from flows.client import Processor, Socket, pipeline, parallel, funnel\n"
        "print(flows.client.__file__)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'django', 'celery', 'rest_framework'}))",
        cwd=venv,
    ).splitlines()
    assert imported[0].startswith(str(venv)), imported  # the installed SDK, not the checkout's
    assert imported[1] == "[]"  # the SDK imports no server code


def test_server_extra_is_requirements_txt_and_its_pins_meet_the_core_dependencies(venv: Path) -> None:
    listed = _run(
        venv / "bin" / "python",
        "-c",
        "from importlib.metadata import requires\nprint('\\n'.join(requires('elasticcode') or []))",
        cwd=venv,
    ).splitlines()
    declared = [Requirement(line) for line in listed if line]
    core = [r for r in declared if "extra" not in str(r.marker)]
    server = {_key(r) for r in declared if r.marker is not None and r.marker.evaluate({"extra": "server"})}
    pins = [
        Requirement(line)
        for line in (BASE_DIR / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert server == {_key(r) for r in pins}  # `pip install elasticcode[server]` installs exactly what make run does
    pinned = {canonicalize_name(r.name): next(iter(r.specifier)).version for r in pins}
    assert core
    for requirement in core:  # make run's pins are what the tests run against: they must meet what pip asks for
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement} is not pinned in requirements.txt, so make run does not install it"
        assert requirement.specifier.contains(pinned[name]), f"{requirement} excludes the pinned {pinned[name]}"


def _key(requirement: Requirement) -> tuple[str, str]:
    return canonicalize_name(requirement.name), str(requirement.specifier)
