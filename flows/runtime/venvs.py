"""A virtualenv per (checkout, subdirectory, extra requirements), built with uv and reused across restarts.

uv builds a venv and installs a small project in about a second where venv + pip take ten; that matters for every
processor start and for the test suite. The venv never sees the host's site-packages.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import uv
from django.conf import settings

from flows.runtime.repos import CodeError

INSTALL_TIMEOUT = 900


def _requirements(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def venv_key(checkout: Path, subdirectory: str, requirements: str) -> str:
    material = "\n".join([str(checkout.resolve()), subdirectory.strip("/"), *_requirements(requirements)])
    return hashlib.sha256(material.encode()).hexdigest()[:20]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _uv(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "UV_CACHE_DIR": str(Path(settings.ELASTICCODE_CODE_DIR) / "uv-cache"), "UV_NO_PROGRESS": "1"}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run(
        [uv.find_uv_bin(), *args], capture_output=True, text=True, env=env, timeout=INSTALL_TIMEOUT, check=False
    )


def ensure_venv(checkout: Path, *, subdirectory: str = "", requirements: str = "") -> Path:
    """The venv's python for this checkout, built once and reused."""
    root = Path(settings.ELASTICCODE_CODE_DIR) / "venvs"
    key = venv_key(checkout, subdirectory, requirements)
    target = root / key
    python = target / "bin" / "python"
    if (target / ".ec-complete").exists():
        return python
    project = checkout / subdirectory.strip("/") if subdirectory else checkout
    commit = checkout.name[:7]
    if not project.is_dir():
        raise CodeError(f'subdirectory "{subdirectory}" not found at commit {commit}')
    with _locked(root / f".{key}.lock"):
        if (target / ".ec-complete").exists():
            return python
        # Built in place under the lock; the marker is written last, so a crash mid-build is rebuilt next time.
        shutil.rmtree(target, ignore_errors=True)
        try:
            made = _uv("venv", "--quiet", "--python", sys.executable, str(target))
            if made.returncode:
                raise CodeError(f"could not create a virtualenv: {made.stderr.strip()[-1000:]}")
            packages = _requirements(requirements)
            installable = (project / "pyproject.toml").exists() or (project / "setup.py").exists()
            if installable:
                packages.insert(0, str(project))
            else:
                # Plain modules without packaging: put the directory on the venv's path instead of installing it.
                site = next((target / "lib").glob("python*/site-packages"))
                (site / "elasticcode-processor.pth").write_text(str(project) + "\n")
            if packages:
                done = _uv("pip", "install", "--quiet", "--python", str(python), *packages)
                if done.returncode:
                    tail = "\n".join(done.stderr.strip().splitlines()[-20:])
                    raise CodeError(f"installing the processor's code at commit {commit} failed: {tail}")
            (target / ".ec-complete").write_text(key)
        except subprocess.TimeoutExpired as exc:
            shutil.rmtree(target, ignore_errors=True)
            raise CodeError(
                f"installing the processor's code at commit {commit} took over {INSTALL_TIMEOUT} s"
            ) from exc
        except CodeError:
            shutil.rmtree(target, ignore_errors=True)
            raise
    return python
