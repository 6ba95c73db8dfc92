"""Git repositories made in a temp dir for runtime tests: real commits, real `file://` URLs."""

from __future__ import annotations

import subprocess
from pathlib import Path

_GIT_ENV = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "PATH": "/usr/bin:/bin:/usr/local/bin",
    "HOME": "/tmp",
}


def _git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=repo, env=_GIT_ENV, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def make_repo(path: Path, files: dict[str, str], *, branch: str = "main") -> str:
    """Create a git repository at `path` holding `files` (relative path → text) in one commit; returns its SHA."""
    path.mkdir(parents=True, exist_ok=True)
    _git(path, "init", "-q", "-b", branch)
    return commit(path, files, message="initial")


def commit(path: Path, files: dict[str, str], *, message: str = "change") -> str:
    """Write `files` into the repository at `path` and commit them; returns the new SHA."""
    for name, text in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", message)
    return _git(path, "rev-parse", "HEAD")


def tag(path: Path, name: str) -> None:
    _git(path, "tag", name)


def package_files(module: str, source: str, *, requirements: tuple[str, ...] = ()) -> dict[str, str]:
    """A minimal pip-installable package: pyproject.toml plus `<module>.py` (a dotted module becomes packages)."""
    parts = module.split(".")
    files: dict[str, str] = {}
    if len(parts) == 1:
        files[f"{module}.py"] = source
        py_modules = f'py-modules = ["{module}"]'
        packages_line = ""
    else:
        for i in range(1, len(parts)):
            files["/".join(parts[:i]) + "/__init__.py"] = ""
        files["/".join(parts) + ".py"] = source
        py_modules = ""
        packages_line = f'packages = ["{".".join(parts[:-1])}"]'
    deps = ", ".join(f'"{r}"' for r in requirements)
    files["pyproject.toml"] = (
        "[build-system]\n"
        'requires = ["setuptools>=61"]\n'
        'build-backend = "setuptools.build_meta"\n\n'
        "[project]\n"
        f'name = "{parts[0].replace("_", "-")}-pkg"\n'
        'version = "0.1.0"\n'
        f"dependencies = [{deps}]\n\n"
        "[tool.setuptools]\n"
        f"{py_modules}{packages_line}\n"
    )
    return files


def add_submodule(repo: Path, path: str, url: str, sha: str, *, message: str = "add submodule") -> str:
    """Commit a submodule at `path` of `repo`: `url` goes into .gitmodules as given (relative or absolute) and `sha`
    is pinned as git pins it (a gitlink in the tree). Nothing is cloned, so the pin may name any commit, even one
    the submodule's repository lacks. Make it the repository's last commit: `commit` (`git add -A`) would see the
    unpopulated submodule as deleted. Returns the new SHA."""
    _git(repo, "config", "-f", ".gitmodules", f"submodule.{path}.path", path)
    _git(repo, "config", "-f", ".gitmodules", f"submodule.{path}.url", url)
    _git(repo, "add", ".gitmodules")
    _git(repo, "update-index", "--add", "--cacheinfo", f"160000,{sha},{path}")
    _git(repo, "commit", "-q", "-m", message)
    return _git(repo, "rev-parse", "HEAD")
