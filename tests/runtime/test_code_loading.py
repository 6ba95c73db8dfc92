"""Repositories (trusted list, refs, cached checkouts) and virtualenvs (built once, isolated, clear failures)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from flows.models import TrustedRepository
from flows.runtime.repos import CodeError, check_trusted, checkout, is_trusted, resolve, submodule_url
from flows.runtime.venvs import ensure_venv
from tests.factories import ProcessorFactory, SocketFactory, make_flow
from tests.runtime.conftest import Runtime, start
from tests.runtime.gitrepos import add_submodule, commit, make_repo, package_files, tag
from tests.runtime.test_flow_runs import send

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


def test_checkout_has_submodules_at_their_pinned_commits(code: Path, tmp_path: Path) -> None:
    inner = tmp_path / "inner"
    inner_pin = make_repo(inner, {"inner.py": "INNER = 1\n"})
    commit(inner, {"inner.py": "INNER = 2\n"})  # newer than the pin: must not be what is checked out
    lib = tmp_path / "lib"
    make_repo(lib, {"lib.py": "LIB = 1\n"})
    lib_pin = add_submodule(lib, "deps/inner", f"file://{inner}", inner_pin)  # absolute URL, nested
    parent = tmp_path / "parent"
    make_repo(parent, {"app.py": "APP = 1\n"})
    sha = add_submodule(parent, "vendor/lib", "../lib", lib_pin)  # relative to the parent's URL
    tree = checkout(f"file://{parent}", sha)
    assert (tree / "app.py").read_text() == "APP = 1\n"
    assert (tree / "vendor/lib/lib.py").read_text() == "LIB = 1\n"
    assert (tree / "vendor/lib/deps/inner/inner.py").read_text() == "INNER = 1\n"
    assert not list(tree.rglob(".git")), "user code gets files, not repositories"
    assert sorted(p.name for p in (tree / "vendor/lib").iterdir()) == [".gitmodules", "deps", "lib.py"]


def test_untrusted_submodule_names_the_submodule(settings: Any, code: Path, tmp_path: Path) -> None:
    parent = tmp_path / "parent"
    make_repo(parent, {"app.py": ""})
    sha = add_submodule(parent, "vendor/pkg", "https://example.invalid/evil/pkg.git", "1" * 40)
    with pytest.raises(CodeError) as refused:
        checkout(f"file://{parent}", sha)
    assert str(refused.value).startswith(
        'submodule "vendor/pkg" (https://example.invalid/evil/pkg.git) is not on the trusted list'
    )
    settings.ELASTICCODE_TRUSTED_REPOS = ["https://example.invalid/*"]
    with pytest.raises(CodeError, match=re.escape('cannot reach submodule "vendor/pkg" (https://example.invalid/')):
        checkout(f"file://{parent}", sha)  # trusted now, but there is no such host: still named


def test_file_submodule_needs_file_repos_allowed(settings: Any, code: Path, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    pin = make_repo(lib, {"lib.py": ""})
    parent = tmp_path / "parent"
    make_repo(parent, {"app.py": ""})
    sha = add_submodule(parent, "vendor/lib", "../lib", pin)
    settings.ELASTICCODE_ALLOW_FILE_REPOS = False
    with pytest.raises(CodeError, match=re.escape(f'submodule "vendor/lib" (file://{lib}) is a local path')):
        checkout(f"file://{parent}", sha)


def test_unreachable_submodule_is_named_and_not_cached(code: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    pin = make_repo(elsewhere, {"lib.py": "LIB = 1\n"})
    parent = tmp_path / "parent"
    make_repo(parent, {"app.py": ""})
    sha = add_submodule(parent, "vendor/lib", "../lib", pin)
    with pytest.raises(CodeError, match=re.escape(f'cannot reach submodule "vendor/lib" (file://{tmp_path}/lib): ')):
        checkout(f"file://{parent}", sha)
    elsewhere.rename(tmp_path / "lib")  # the submodule's repository appears: the next try succeeds
    assert (checkout(f"file://{parent}", sha) / "vendor/lib/lib.py").read_text() == "LIB = 1\n"


def test_submodule_pinned_at_a_missing_commit(code: Path, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    make_repo(lib, {"lib.py": ""})
    parent = tmp_path / "parent"
    make_repo(parent, {"app.py": ""})
    sha = add_submodule(parent, "vendor/lib", f"file://{lib}", "abcdef0" + "1" * 33)
    with pytest.raises(
        CodeError, match=re.escape(f'commit abcdef0 not found in submodule "vendor/lib" (file://{lib})')
    ):
        checkout(f"file://{parent}", sha)


def test_submodule_url_resolves_like_git() -> None:
    assert submodule_url("https://git.example.com/acme/app.git", "../lib.git") == "https://git.example.com/acme/lib.git"
    assert submodule_url("https://git.example.com/acme/app/", "./lib") == "https://git.example.com/acme/app/lib"
    assert submodule_url("git@git.example.com:acme/app.git", "../../other/lib") == "git@git.example.com:other/lib"
    assert submodule_url("/srv/repos/app", "../lib") == "file:///srv/repos/lib"
    assert submodule_url("https://git.example.com/acme/app.git", "https://x.example/y.git") == "https://x.example/y.git"


SUBMODULE_PACKAGE = {
    "ecsubmod/__init__.py": "def greet(name):\n    return f'hello {name} from a submodule'\n",
}

PARENT_PROJECT = """[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "ecparent"
version = "0.1.0"

[tool.setuptools]
packages = ["ecsubmod"]
package-dir = {"ecsubmod" = "vendor/pkg/ecsubmod"}
"""


@pytest.mark.runtime
def test_processor_whose_package_lives_in_a_submodule(runtime: Runtime, alice: Any, tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pin = make_repo(pkg, SUBMODULE_PACKAGE)
    parent = tmp_path / "parent"
    make_repo(parent, {"pyproject.toml": PARENT_PROJECT})
    add_submodule(parent, "vendor/pkg", "../pkg", pin)
    flow = make_flow(alice, "submodules")
    processor = ProcessorFactory(flow=flow, git_url=f"file://{parent}", ref="main", module="ecsubmod", retries=0)
    SocketFactory(processor=processor, name="greet", function="greet")
    start(processor)
    runtime.start_agent()
    runtime.wait_status(processor, "running")
    response = send(alice, flow, "greet", "alice")
    assert response.status_code == 200, response.content
    assert response.json()["results"] == ["hello alice from a submodule"]


def test_checkout_cached_before_submodules_were_fetched_is_redone(code: Path, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    pin = make_repo(lib, {"lib.py": "LIB = 1\n"})
    parent = tmp_path / "parent"
    make_repo(parent, {"app.py": ""})
    sha = add_submodule(parent, "vendor/lib", "../lib", pin)
    tree = checkout(f"file://{parent}", sha)
    # What the code before submodules left: the bare-commit marker and an empty submodule directory.
    (tree / "vendor/lib/lib.py").unlink()
    (tree / ".ec-complete").write_text(sha)
    assert (checkout(f"file://{parent}", sha) / "vendor/lib/lib.py").read_text() == "LIB = 1\n"
