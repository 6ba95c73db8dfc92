"""Repositories (trusted list, refs, cached checkouts) and virtualenvs (built once, isolated, clear failures)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from flows.models import TrustedRepository
from flows.runtime.repos import CodeError, check_trusted, checkout, is_trusted, resolve
from flows.runtime.venvs import ensure_venv
from tests.runtime.gitrepos import commit, make_repo, package_files, tag

pytestmark = pytest.mark.django_db


@pytest.fixture
def code(settings: Any, tmp_path: Path) -> Path:
    settings.ELASTICCODE_CODE_DIR = tmp_path / "code"
    return settings.ELASTICCODE_CODE_DIR


def test_trusted_list(settings: Any, code: Path) -> None:
    settings.ELASTICCODE_TRUSTED_REPOS = ["https://github.com/acme/*"]
    assert is_trusted("https://github.com/acme/tools.git")
    assert not is_trusted("https://github.com/evil/tools.git")
    TrustedRepository.objects.create(pattern="https://git.example.com/*")
    assert is_trusted("https://git.example.com/x.git")
    settings.ELASTICCODE_ALLOW_FILE_REPOS = False
    assert not is_trusted("/srv/repo") and not is_trusted("file:///srv/repo")
    with pytest.raises(CodeError, match="ELASTICCODE_ALLOW_FILE_REPOS"):
        check_trusted("/srv/repo")
    with pytest.raises(CodeError, match="not on the trusted list"):
        check_trusted("https://github.com/evil/tools.git")


def test_refs_resolve_and_checkouts_are_pinned(code: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    first = make_repo(repo, {"a.py": "VERSION = 1\n"})
    tag(repo, "v1")
    second = commit(repo, {"a.py": "VERSION = 2\n"})
    url = f"file://{repo}"
    assert resolve(url, "main") == second
    assert resolve(url, "v1") == first
    assert resolve(url, first[:7]) == first
    with pytest.raises(CodeError, match='ref "nope" not found'):
        resolve(url, "nope")
    old = checkout(url, first)
    assert (old / "a.py").read_text() == "VERSION = 1\n" and not (old / ".git").exists()
    assert checkout(url, first) == old  # cached
    third = commit(repo, {"a.py": "VERSION = 3\n"})
    assert resolve(url, "main") == third  # the mirror is fetched, not re-cloned


def test_unreachable_repository(code: Path, tmp_path: Path) -> None:
    with pytest.raises(CodeError, match="cannot reach repository"):
        resolve(f"file://{tmp_path}/missing", "main")


def test_venv_built_once_isolated_and_importable(code: Path, tmp_path: Path) -> None:
    repo = tmp_path / "pkg"
    sha = make_repo(repo, {f"sub/{k}": v for k, v in package_files("ecdemo.mod", "X = 41\n").items()})
    tree = checkout(f"file://{repo}", sha)
    python = ensure_venv(tree, subdirectory="sub")
    run = subprocess.run([python, "-c", "import ecdemo.mod as m; print(m.X + 1)"], capture_output=True, text=True)
    assert run.stdout.strip() == "42", run.stderr
    isolated = subprocess.run([python, "-c", "import django"], capture_output=True, text=True)
    assert isolated.returncode != 0
    assert ensure_venv(tree, subdirectory="sub") == python
    with pytest.raises(CodeError, match='subdirectory "nope" not found'):
        ensure_venv(tree, subdirectory="nope")


def test_failing_install_is_clear_and_not_cached(code: Path, tmp_path: Path) -> None:
    repo = tmp_path / "bad"
    sha = make_repo(repo, package_files("ecbad", "X = 1\n"))
    tree = checkout(f"file://{repo}", sha)
    with pytest.raises(CodeError, match="failed") as failure:
        ensure_venv(tree, requirements="this-package-does-not-exist-elasticcode==0.0.1\n")
    assert "this-package-does-not-exist-elasticcode" in str(failure.value)
    assert not any(
        p.name != ".build" and (p / ".ec-complete").exists() for p in (code / "venvs").iterdir() if p.is_dir()
    )
