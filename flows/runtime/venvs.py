"""A virtualenv per (checkout, subdirectory, extra requirements, interpreter), built with uv and reused across restarts.

uv builds a venv and installs a small project in about a second where venv + pip take ten; that matters for every
processor start and for the test suite. The venv never sees the host's site-packages.

Installing a package runs its code (setup.py, the build backend), so the build runs in the processor's sandbox
(sandbox.py): as its user, with an environment built from nothing (package index, proxy and certificate variables
passed through, ELASTICCODE_BUILD_ENV), reading the system, the interpreter and uv, writing only the venv, a build
directory of its own (with a copy of the project: setuptools writes build/ and *.egg-info beside the sources, and
the checkout is shared) and its uv cache. Once built, the venv is handed to the platform and made read-only
(`sandbox.share`), so no processor can change code that another one runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import uv

from flows.runtime import sandbox as sandboxes
from flows.runtime.repos import CodeError
from flows.runtime.sandbox import Sandbox, SandboxError

INSTALL_TIMEOUT = 900


def _requirements(text: str) -> list[str]:
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    for line in lines:
        if line.startswith("-"):
            # Passed to `uv pip install` as arguments: an option there (--index-url, --python …) would change how
            # and where the build installs, not what.
            raise CodeError(f'requirements: "{line}" is an option; give one package requirement per line')
    return lines


def venv_key(checkout: Path, subdirectory: str, requirements: str, python: str = "") -> str:
    material = "\n".join([str(checkout.resolve()), subdirectory.strip("/"), python, *_requirements(requirements)])
    return hashlib.sha256(material.encode()).hexdigest()[:20]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


class _Build:
    """One venv build: runs uv inside the sandbox, in a build directory of its own."""

    def __init__(self, sandbox: Sandbox, *, target: Path, build: Path, python: str) -> None:
        self.sandbox = sandbox
        self.target = target
        self.build = build
        self.python = python
        self.uv = sandboxes.shared_copy(Path(uv.find_uv_bin()))
        owner = sandbox.uid if sandbox.uid is not None else "platform"
        self.cache = sandbox.own(sandboxes.code_dir() / "uv-cache" / str(owner))
        sandbox.own(build)
        sandbox.own(build / "tmp")
        sandbox.own(target)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = sandboxes.build_env(home=self.build)
        env.update(
            UV_CACHE_DIR=str(self.cache),
            UV_NO_PROGRESS="1",
            UV_NO_CONFIG="1",  # no uv.toml or pyproject.toml of the agent's working directory or home
            UV_PYTHON_DOWNLOADS="never",
            # Copies, not hard links into the cache: the venv is made read-only afterwards, the cache stays the
            # build user's.
            UV_LINK_MODE="copy",
        )
        reads = [self.uv, sandboxes.interpreter_prefix(self.python)]
        with sandboxes.confined(
            self.sandbox, reads=reads, writes=[self.target, self.build, self.cache], before=os.setpgrp
        ) as confinement:
            return subprocess.run(
                [str(self.uv), *args],
                capture_output=True,
                text=True,
                env=env,
                cwd=self.build,
                timeout=INSTALL_TIMEOUT,
                check=False,
                **confinement,
            )

    def source(self, project: Path) -> Path:
        """A private copy of the project to build from, owned by the build's user."""
        copy = self.build / "src"
        shutil.copytree(project, copy, symlinks=True, ignore=shutil.ignore_patterns(".ec-complete"))
        if self.sandbox.uid is not None:
            for directory, dirnames, filenames in os.walk(copy):
                for name in [*dirnames, *filenames]:
                    os.lchown(os.path.join(directory, name), self.sandbox.uid, self.sandbox.uid)
            os.lchown(copy, self.sandbox.uid, self.sandbox.uid)
        return copy


def ensure_venv(
    checkout: Path, *, subdirectory: str = "", requirements: str = "", sandbox: Sandbox | None = None
) -> Path:
    """The venv's python for this checkout, built once and reused. The build runs in `sandbox` (the processor's;
    by default the platform's user, still under Landlock)."""
    sandbox = sandbox or sandboxes.local("venv build")
    root = sandboxes.code_dir() / "venvs"
    try:
        python_base = sandboxes.interpreter()
    except SandboxError as exc:
        raise CodeError(str(exc)) from exc
    key = venv_key(checkout, subdirectory, requirements, python_base)
    target = root / key
    python = target / "bin" / "python"
    if (target / ".ec-complete").exists():
        return python
    project = checkout / subdirectory.strip("/") if subdirectory else checkout
    commit = checkout.name[:7]
    if not project.is_dir():
        raise CodeError(f'subdirectory "{subdirectory}" not found at commit {commit}')
    packages = _requirements(requirements)
    with _locked(root / f".{key}.lock"):
        if (target / ".ec-complete").exists():
            return python
        # Built in place under the lock; the marker is written last, so a crash mid-build is rebuilt next time.
        shutil.rmtree(target, ignore_errors=True)
        # The build works in the system's temporary directory, not under the code directory: uv looks for a
        # workspace in every directory above the project it builds, and the code directory usually sits in the
        # platform's own checkout, whose pyproject.toml the sandbox may not read.
        build_dir = Path(tempfile.mkdtemp(prefix=f"ec-build-{key}-"))
        try:
            build = _Build(sandbox, target=target, build=build_dir, python=python_base)
            made = build.run("venv", "--quiet", "--python", python_base, str(target))
            if made.returncode:
                raise CodeError(f"could not create a virtualenv: {made.stderr.strip()[-1000:]}")
            installable = (project / "pyproject.toml").exists() or (project / "setup.py").exists()
            if installable:
                packages.insert(0, str(build.source(project)))
            else:
                # Plain modules without packaging: put the directory on the venv's path instead of installing it
                # (the executor may read the checkout).
                site = next((target / "lib").glob("python*/site-packages"))
                (site / "elasticcode-processor.pth").write_text(str(project) + "\n")
            if packages:
                done = build.run("pip", "install", "--quiet", "--python", str(python), *packages)
                if done.returncode:
                    tail = "\n".join(done.stderr.strip().splitlines()[-20:])
                    raise CodeError(f"installing the processor's code at commit {commit} failed: {tail}")
            sandboxes.share(target)
            (target / ".ec-complete").write_text(key)
        except subprocess.TimeoutExpired as exc:
            shutil.rmtree(target, ignore_errors=True)
            raise CodeError(
                f"installing the processor's code at commit {commit} took over {INSTALL_TIMEOUT} s"
            ) from exc
        except (OSError, SandboxError) as exc:
            shutil.rmtree(target, ignore_errors=True)
            raise CodeError(f"could not build the virtualenv for commit {commit}: {exc}") from exc
        except CodeError:
            shutil.rmtree(target, ignore_errors=True)
            raise
        finally:
            shutil.rmtree(build_dir, ignore_errors=True)
    return python
