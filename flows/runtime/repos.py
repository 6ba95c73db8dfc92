"""Git repositories of processors: the trusted list, resolving a ref to a commit, and cached checkouts.

A bare mirror per repository (fetched, never re-cloned) feeds checkouts of exact commits under
ELASTICCODE_CODE_DIR/checkouts/<repo key>/<commit>. A checkout is written into a temp dir and renamed into place,
so a crash never leaves a half-written tree that looks complete. A lock file per repository serialises work on
it across processes (agents, tests).
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import hashlib
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import git
from django.conf import settings

from flows.models import TrustedRepository

SHA = re.compile(r"^[0-9a-f]{7,40}$")


class CodeError(Exception):
    """Code could not be loaded; the message says what is wrong and what to do."""


def normalise(git_url: str) -> str:
    """Plain local paths become file:// URLs, so there is one spelling to trust."""
    if git_url.startswith("/"):
        return f"file://{git_url}"
    return git_url


def is_trusted(git_url: str) -> bool:
    url = normalise(git_url)
    if url.startswith("file://"):
        return bool(settings.ELASTICCODE_ALLOW_FILE_REPOS)
    patterns = list(settings.ELASTICCODE_TRUSTED_REPOS)
    patterns += list(TrustedRepository.objects.values_list("pattern", flat=True))
    return any(fnmatch.fnmatchcase(url, pattern) for pattern in patterns)


def check_trusted(git_url: str) -> None:
    if not is_trusted(git_url):
        if normalise(git_url).startswith("file://"):
            raise CodeError(
                f"repository {git_url} is a local path, which is only allowed with ELASTICCODE_ALLOW_FILE_REPOS=1"
            )
        raise CodeError(
            f"repository {git_url} is not on the trusted list: add a matching pattern to ELASTICCODE_TRUSTED_REPOS "
            "or to the admin's trusted repositories"
        )


def _key(git_url: str) -> str:
    return hashlib.sha256(normalise(git_url).encode()).hexdigest()[:16]


def _root() -> Path:
    return Path(settings.ELASTICCODE_CODE_DIR)


@contextlib.contextmanager
def _locked(git_url: str) -> Iterator[None]:
    locks = _root() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{_key(git_url)}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _git_reason(exc: git.GitCommandError) -> str:
    lines = [line.strip() for line in str(exc.stderr or exc).splitlines() if line.strip()]
    lines = [line.removeprefix("stderr: ").strip("'") for line in lines]
    return (lines[-1] if lines else str(exc))[:300]


def _mirror(git_url: str) -> git.Repo:
    """The repository's bare mirror, fetched now. Call with the repository's lock held."""
    url = normalise(git_url)
    path = _root() / "mirrors" / f"{_key(url)}.git"
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=".clone-"))
            try:
                git.Repo.clone_from(url, tmp, mirror=True)
                tmp.rename(path)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            return git.Repo(path)
        repo = git.Repo(path)
        repo.git.fetch("--prune", "origin", "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
        return repo
    except git.GitCommandError as exc:
        raise CodeError(f"cannot reach repository {git_url}: {_git_reason(exc)}") from exc


def resolve(git_url: str, ref: str) -> str:
    """The full SHA `ref` (branch, tag or commit) points at now."""
    with _locked(git_url):
        repo = _mirror(git_url)
        for candidate in (f"refs/heads/{ref}", f"refs/tags/{ref}^{{commit}}", ref if SHA.match(ref) else None):
            if candidate is None:
                continue
            try:
                return str(repo.git.rev_parse("--verify", "--quiet", f"{candidate}^{{commit}}")).strip()
            except git.GitCommandError:
                continue
    raise CodeError(f'ref "{ref}" not found in repository {git_url}: give a branch, a tag or a commit of it')


def checkout(git_url: str, commit: str) -> Path:
    """A working tree of exactly `commit`, cached and reused."""
    target = _root() / "checkouts" / _key(git_url) / commit
    if (target / ".ec-complete").exists():
        return target
    with _locked(git_url):
        if (target / ".ec-complete").exists():
            return target
        repo = _mirror(git_url)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".checkout-"))
        try:
            # `git archive` writes the tree without a .git directory: user code gets files, not the repository.
            archive = tmp / "tree.tar"
            with open(archive, "wb") as out:
                repo.archive(out, commit, format="tar")
            shutil.unpack_archive(archive, tmp / "tree", "tar")
            archive.unlink()
            (tmp / "tree" / ".ec-complete").write_text(commit)
            shutil.rmtree(target, ignore_errors=True)
            (tmp / "tree").rename(target)
        except git.GitCommandError as exc:
            raise CodeError(f"commit {commit[:7]} not found in repository {git_url}: {_git_reason(exc)}") from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target
