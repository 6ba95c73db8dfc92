"""Git repositories of processors: the trusted list, resolving a ref to a commit, and cached checkouts.

A bare mirror per repository (fetched, never re-cloned) feeds checkouts of exact commits under
ELASTICCODE_CODE_DIR/checkouts/<repo key>/<commit>. A checkout is written into a temp dir and renamed into place,
so a crash never leaves a half-written tree that looks complete. Lock files serialise work across processes
(agents, the web process, tests): one per mirror, one per checkout.

A checkout includes its submodules, recursively, at the commits the parent pins, fetched from the URLs in the
parent's .gitmodules at that commit (relative URLs resolved against the parent's URL, as git does). A submodule URL
is code to load like any repository: it must be trusted, and it gets its own cached mirror.
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
from dataclasses import dataclass
from pathlib import Path

import git
from django.conf import settings

from flows.models import TrustedRepository
from flows.runtime import sandbox as sandboxes

SHA = re.compile(r"^[0-9a-f]{7,40}$")
FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
# Git must fail, not wait for a password nobody will type: a private submodule would hang the agent's preparation.
_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0"}


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


def check_trusted(git_url: str, *, who: str | None = None) -> None:
    """Refuse an untrusted repository; `who` names it in the message (default: 'repository <url>')."""
    if not is_trusted(git_url):
        who = who or f"repository {git_url}"
        if normalise(git_url).startswith("file://"):
            raise CodeError(f"{who} is a local path, which is only allowed with ELASTICCODE_ALLOW_FILE_REPOS=1")
        raise CodeError(
            f"{who} is not on the trusted list: add a matching pattern to ELASTICCODE_TRUSTED_REPOS "
            "or to the admin's trusted repositories"
        )


def submodule_url(parent_url: str, url: str) -> str:
    """A submodule's URL as git resolves it: `./x` and `../x` are relative to the parent repository's URL (each
    `../` drops one component of it), anything else stands as written."""
    if not url.startswith(("./", "../")):
        return normalise(url)
    base = normalise(parent_url).rstrip("/")
    separator = "/"
    while url.startswith(("./", "../")):
        if url.startswith("./"):
            url = url[2:]
            continue
        url = url[3:]
        slash, colon = base.rfind("/"), base.rfind(":")
        if slash > colon:
            base = base[:slash]
        elif colon != -1:  # scp-like git@host:path: past the path's first component comes the host's colon
            base, separator = base[:colon], ":"
    return f"{base}{separator}{url}".rstrip("/")


def _key(git_url: str) -> str:
    return hashlib.sha256(normalise(git_url).encode()).hexdigest()[:16]


def _root() -> Path:
    return Path(settings.ELASTICCODE_CODE_DIR)


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _locked(git_url: str) -> contextlib.AbstractContextManager[None]:
    """The lock of a repository's mirror."""
    return _flock(_root() / "locks" / f"{_key(git_url)}.lock")


def _git_reason(exc: git.GitCommandError) -> str:
    lines = [line.strip() for line in str(exc.stderr or exc).splitlines() if line.strip()]
    lines = [line.removeprefix("stderr: ").strip("'") for line in lines]
    return (lines[-1] if lines else str(exc))[:300]


def _has_commit(repo: git.Repo, commit: str) -> bool:
    try:
        repo.git.cat_file("-e", f"{commit}^{{commit}}")
    except git.GitCommandError:
        return False
    return True


def _mirror(git_url: str, *, who: str | None = None, want: str | None = None) -> git.Repo:
    """The repository's bare mirror, fetched now unless it already has commit `want`. Call with its lock held."""
    url = normalise(git_url)
    path = _root() / "mirrors" / f"{_key(url)}.git"
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=".clone-"))
            try:
                # A clone of our own, not `git submodule update`: git ≥ 2.38 refuses file:// only for the latter, and
                # whether file:// may be used at all is check_trusted's decision (ELASTICCODE_ALLOW_FILE_REPOS).
                git.Repo.clone_from(url, tmp, mirror=True, env=_GIT_ENV)
                tmp.rename(path)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        repo = git.Repo(path)
        repo.git.update_environment(**_GIT_ENV)
        if want is None or not _has_commit(repo, want):
            repo.git.fetch("--prune", "origin", "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
        if want is not None and FULL_SHA.match(want) and not _has_commit(repo, want):
            # A pinned commit no branch or tag reaches any more (say, after a force push): ask for it by its SHA,
            # which servers that allow it answer; the caller reports it missing otherwise.
            with contextlib.suppress(git.GitCommandError):
                repo.git.fetch("origin", want)
        return repo
    except (git.GitCommandError, git.UnsafeProtocolError) as exc:
        reason = _git_reason(exc) if isinstance(exc, git.GitCommandError) else str(exc)
        raise CodeError(f"cannot reach {who or f'repository {git_url}'}: {reason}") from exc


def default_branch(git_url: str) -> str:
    """The branch the repository's HEAD names (its default branch: "main", "master", …), as of the mirror's
    clone."""
    with _locked(git_url):
        repo = _mirror(git_url)
        try:
            return str(repo.git.symbolic_ref("--short", "HEAD")).strip()
        except git.GitCommandError:
            raise CodeError(f"repository {git_url} has no default branch: give a ref") from None


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


@dataclass(frozen=True)
class _Submodule:
    path: str  # from the checkout's root
    url: str  # resolved
    commit: str

    @property
    def who(self) -> str:
        return f'submodule "{self.path}" ({self.url})'


def _submodules(repo: git.Repo, git_url: str, commit: str, *, who: str, prefix: str) -> list[_Submodule]:
    """The submodules `commit` pins (gitlinks in its tree), with their URLs from its .gitmodules."""
    pins: dict[str, str] = {}
    for entry in repo.git.ls_tree("-r", "-z", commit).split("\0"):
        if entry.startswith("160000 "):
            meta, path = entry.split("\t", 1)
            pins[path] = meta.split()[2]
    if not pins:
        return []
    entries: dict[str, dict[str, str]] = {}
    try:
        listing = repo.git.config("--blob", f"{commit}:.gitmodules", "--null", "--list")
    except git.GitCommandError:
        listing = ""  # no (readable) .gitmodules: every submodule below is reported without a URL
    for item in filter(None, listing.split("\0")):
        key, _, value = item.partition("\n")
        section, _, rest = key.partition(".")
        name, _, variable = rest.rpartition(".")  # submodule names may contain dots; the variable cannot
        if section == "submodule" and name:
            entries.setdefault(name, {})[variable] = value
    by_path = {entry["path"]: entry for entry in entries.values() if "path" in entry}
    found = []
    for path, pin in sorted(pins.items()):
        entry = by_path.get(path, {})
        if not entry.get("url"):
            raise CodeError(
                f'submodule "{prefix}{path}" of {who} has no URL in .gitmodules at commit {commit[:7]}: '
                "add it with `git submodule add <url> <path>`"
            )
        if entry.get("update") == "none":
            continue  # as `git submodule update` does: the project says it does not need it
        found.append(_Submodule(path=f"{prefix}{path}", url=submodule_url(git_url, entry["url"]), commit=pin))
    return found


def _export(git_url: str, commit: str, dest: Path, *, scratch: Path, who: str, prefix: str = "") -> list[_Submodule]:
    """Write the files of `commit` into `dest`; returns the submodules still to be written into it."""
    with _locked(git_url):
        repo = _mirror(git_url, who=who, want=commit)
        if not _has_commit(repo, commit):
            if prefix:
                raise CodeError(
                    f"commit {commit[:7]} not found in {who}: the parent repository pins it; push it to the "
                    "submodule's repository, or pin a commit it has"
                )
            raise CodeError(f"commit {commit[:7]} not found in {who}: give a commit the repository has")
        # `git archive` writes the tree without a .git directory: user code gets files, not the repository.
        archive = scratch / "tree.tar"
        try:
            with open(archive, "wb") as out:
                repo.archive(out, commit, format="tar")
            shutil.unpack_archive(archive, dest, "tar")
            return _submodules(repo, git_url, commit, who=who, prefix=prefix)
        except git.GitCommandError as exc:
            raise CodeError(f"cannot read commit {commit[:7]} of {who}: {_git_reason(exc)}") from exc
        finally:
            archive.unlink(missing_ok=True)


def _marker(commit: str) -> str:
    return f"{commit} with submodules"


def _complete(target: Path, commit: str) -> bool:
    """Written in full. Checkouts written before submodules were fetched are marked with the bare commit: those with
    a .gitmodules are redone (their submodule directories are empty), the others stand as they are."""
    try:
        marker = (target / ".ec-complete").read_text()
    except FileNotFoundError:
        return False
    return marker == _marker(commit) or not (target / ".gitmodules").exists()


def checkout(git_url: str, commit: str) -> Path:
    """A working tree of exactly `commit`, with its submodules at the commits it pins, cached and reused."""
    target = _root() / "checkouts" / _key(git_url) / commit
    if _complete(target, commit):
        return target
    # Lock order: this checkout's lock, then one mirror lock at a time (each released before the next repository's
    # is taken), so two repositories that include each other as submodules cannot deadlock.
    with _flock(_root() / "locks" / f"{_key(git_url)}-{commit}.lock"):
        if _complete(target, commit):
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        sandboxes.passable(target.parent)  # a repository's checkouts: reach one by its commit, list none
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".checkout-"))
        try:
            tree = tmp / "tree"
            pending = _export(git_url, commit, tree, scratch=tmp, who=f"repository {git_url}")
            while pending:
                sub = pending.pop(0)
                check_trusted(sub.url, who=sub.who)
                dest = tree / sub.path
                if not dest.resolve().is_relative_to(tree.resolve()):
                    raise CodeError(f"{sub.who} lies outside the repository's tree")
                pending += _export(sub.url, sub.commit, dest, scratch=tmp, who=sub.who, prefix=f"{sub.path}/")
            (tree / ".ec-complete").write_text(_marker(commit))
            # Readable, never writable, by the processors' users (flows/runtime/sandbox.py): each reads its own
            # checkout by path, none may change one that another processor builds from.
            sandboxes.share(tree)
            shutil.rmtree(target, ignore_errors=True)
            tree.rename(target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target
