"""Where user code runs (DESIGN §5): what a processor's venv build and its executors can reach.

Three layers, each applied where the machine allows it (README: "What user code can reach"):

1. **Environment**, built from nothing: PATH, HOME and TMPDIR of its own, LANG (executor.scrubbed_env; `build_env`
   for venv builds, which also passes through the variables named in ELASTICCODE_BUILD_ENV: package indexes,
   proxies, certificates). Never the agent's or the worker's environment.
2. **A user of its own.** When the platform runs as root (a container, this project's CI), every processor's
   builds and executors run as an unprivileged user: uid = gid = ELASTICCODE_SANDBOX_UID_BASE + a number derived
   from the processor id, with no supplementary groups (no passwd entry is needed). User code never runs as root:
   if no such user can be had (a user namespace that does not map the range), the processor fails with a message
   saying what to set. The platform's files are private to it (umask 077, secrets 0600) and only the code tree is
   made readable on purpose, so that user reads checkouts and venvs, writes its own working directory, and cannot
   read a secret, ptrace, read /proc/<pid>/environ of or signal a platform process, or write another processor's
   files. Without root (a laptop's `make run`) there is no other user to become: user code runs as the platform's
   user, the worker and the agent make themselves non-dumpable (`harden_platform_process`: their /proc entries,
   environment included, are then closed to processes of the same user), and layer 3 keeps the files apart.
3. **A filesystem view** (Landlock, Linux ≥ 5.13, whatever the user): the process and everything it starts may read
   the system's directories (SYSTEM_READS), the interpreter, its venv and its checkout, and write only its working
   directory; nothing else (the platform's data directory, other processors' code), whatever the file modes say.
   Landlock also keeps it from ptrace of processes outside the sandbox and, from Linux 6.12, from signalling them.
   Without Landlock (an old kernel) the agent says so in its log, and only layers 1 and 2 remain.

`Sandbox` is one processor's identity and read paths; `confined()` gives the Popen arguments that start a process
inside it.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import logging
import os
import shutil
import stat
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import landlockpy
from django.conf import settings

log = logging.getLogger(__name__)

# Read (and execute) beneath these, when they exist. /etc is listed entry by entry: deployments keep secrets there
# (systemd units, env files), so only what programs need to start, resolve names and verify TLS is readable.
SYSTEM_READS = (
    "/usr",
    "/lib",
    "/lib32",
    "/lib64",
    "/bin",
    "/sbin",
    "/proc",
    "/sys",
    "/etc/alternatives",
    "/etc/ca-certificates",
    "/etc/ssl",
    "/etc/pki",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/passwd",
    "/etc/group",
    "/etc/mime.types",
    "/etc/os-release",
    "/etc/debian_version",
    f"/etc/python{sys.version_info.major}",
    f"/etc/python{sys.version_info.major}.{sys.version_info.minor}",
)
# Opened read-write as files (no listing of /dev).
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
# Platform directories a sandbox user must be able to pass through (x, no listing) to reach the code tree.
TRAVERSE = 0o711


class SandboxError(Exception):
    """The sandbox cannot be set up on this machine as configured: the message says what to change."""


@dataclass(frozen=True)
class Sandbox:
    """One processor's confinement: the user its processes run as (None: the platform's own) and what they read.

    Writes are given per process (`confined(writes=...)`): each executor slot has a working directory of its own.
    """

    name: str
    uid: int | None
    reads: tuple[Path, ...] = ()
    # Off only in tests that check the other layers alone.
    landlock: bool = True

    @property
    def gid(self) -> int | None:
        return self.uid

    def own(self, path: Path) -> Path:
        """Create `path` (and parents) as a directory only this sandbox's user may use, and return it. Its parent
        (a processor's directory under the code tree) may be passed through, not listed."""
        path.mkdir(parents=True, exist_ok=True)
        if self.uid is not None:
            passable(path.parent)
            os.chown(path, self.uid, self.uid)
        path.chmod(0o700)
        return path


def switches_users() -> bool:
    """Whether processors get users of their own: whenever the platform runs as root."""
    return os.geteuid() == 0


def _check_uid_range() -> None:
    """In a user namespace (a rootless container) only the uids of /proc/self/uid_map exist, and setuid to any
    other fails: refuse with what to set rather than run user code as root."""
    base, count = settings.ELASTICCODE_SANDBOX_UID_BASE, settings.ELASTICCODE_SANDBOX_UID_COUNT
    try:
        lines = Path("/proc/self/uid_map").read_text().split("\n")
    except OSError:
        return
    for line in lines:
        parts = line.split()
        if len(parts) == 3 and int(parts[0]) <= base and base + count <= int(parts[0]) + int(parts[2]):
            return
    raise SandboxError(
        f"user code runs as a user of its own, uids {base}-{base + count - 1}, which this user namespace does not "
        "map (/proc/self/uid_map): set ELASTICCODE_SANDBOX_UID_BASE and ELASTICCODE_SANDBOX_UID_COUNT to a mapped "
        "range that no real user has"
    )


_PR_SET_DUMPABLE = 4


def harden_platform_process() -> None:
    """Make this process non-dumpable: its /proc entries (environment, memory, file descriptors) and ptrace are
    then closed to every process of the same user that lacks CAP_SYS_PTRACE, so user code started as the
    platform's own user cannot read the database and broker URLs from the worker's environment. Also no core
    files of a process holding secrets. Called by the worker and the agent at start."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        log.warning("could not make this process non-dumpable: %s", os.strerror(ctypes.get_errno()))


def uid_for(processor_id: str) -> int:
    """A stable uid per processor, from its id: the same after restarts and on every node."""
    number = uuid.UUID(str(processor_id)).int % settings.ELASTICCODE_SANDBOX_UID_COUNT
    return int(settings.ELASTICCODE_SANDBOX_UID_BASE) + number


@functools.cache
def landlock_abi() -> int:
    version = landlockpy.abi_version()
    if version < 1:
        log.warning(
            "this kernel has no Landlock (Linux ≥ 5.13 with landlock among its LSMs): user code is confined by %s",
            "its own user and file permissions" if os.geteuid() == 0 else "nothing but its environment",
        )
    return version


def for_processor(processor_id: str, *, reads: Iterable[Path | str] = ()) -> Sandbox:
    """The sandbox of one processor's builds and executors. Raises SandboxError when, as root, no user of its own
    can be had."""
    uid = None
    if switches_users():
        _check_uid_range()
        uid = uid_for(processor_id)
    return Sandbox(name=f"processor {processor_id}", uid=uid, reads=tuple(Path(p) for p in reads))


def local(name: str = "", *, reads: Iterable[Path | str] = ()) -> Sandbox:
    """Landlock only, as the calling process's own user: for executors that tests and tools start themselves;
    processors' code always runs in `for_processor`'s sandbox."""
    return Sandbox(name=name or "local", uid=None, reads=tuple(Path(p) for p in reads))


def interpreter_prefix(python: Path | str) -> Path:
    """The installation an interpreter (or a venv's `bin/python` symlink to it) belongs to: <prefix>/bin/python."""
    return Path(os.path.realpath(python)).parent.parent


@contextlib.contextmanager
def confined(
    sandbox: Sandbox,
    *,
    reads: Iterable[Path] = (),
    writes: Iterable[Path] = (),
    before: Callable[[], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Popen keyword arguments that start a process inside `sandbox`, with `reads` readable beside the system's and
    the sandbox's own and `writes` writable: its user, and a preexec_fn that runs `before` (as that user), then
    enforces the Landlock ruleset. The ruleset's descriptor lives until the block ends: call Popen inside it."""
    options: dict[str, Any] = {}
    if sandbox.uid is not None:
        options.update(user=sandbox.uid, group=sandbox.gid, extra_groups=[])
    ruleset: landlockpy.Ruleset | None = None
    if sandbox.landlock and landlock_abi() >= 1:
        # The network stays open (processors call services, builds fetch packages); the platform's servers ask
        # for passwords user code cannot read.
        ruleset = landlockpy.Ruleset(
            handled_net=landlockpy.AccessNet.NONE,
            scoped=landlockpy.Scope.SIGNAL | landlockpy.Scope.ABSTRACT_UNIX_SOCKET,
        )
        extra: list[str] = list(settings.ELASTICCODE_SANDBOX_READ_PATHS)
        readable = [Path(p) for p in (*SYSTEM_READS, *extra)] + list(sandbox.reads)
        _allow(ruleset, [*readable, *reads], _READ)
        _allow(ruleset, writes, _WRITE)
        _allow(ruleset, [Path(p) for p in DEVICES], _DEVICE)
        if sandbox.uid is not None:
            # Shared memory (multiprocessing's semaphores) only where file modes keep users apart: as one user, the
            # platform's own segments (PostgreSQL's) would be readable.
            _allow(ruleset, [Path("/dev/shm")], _WRITE)

    def preexec() -> None:
        if before is not None:
            before()
        if ruleset is not None:
            ruleset.restrict()

    options["preexec_fn"] = preexec
    try:
        yield options
    finally:
        if ruleset is not None:
            ruleset.close()


_READ = landlockpy.AccessFS.EXECUTE | landlockpy.AccessFS.READ_FILE | landlockpy.AccessFS.READ_DIR
_WRITE = landlockpy.AccessFS(
    landlockpy.fs_for_abi(landlockpy.abi_version() or 1)
    & ~(landlockpy.AccessFS.MAKE_CHAR | landlockpy.AccessFS.MAKE_BLOCK)
)
_DEVICE = (
    landlockpy.AccessFS.READ_FILE
    | landlockpy.AccessFS.WRITE_FILE
    | landlockpy.AccessFS.TRUNCATE
    | landlockpy.AccessFS.IOCTL_DEV
)
# Rights the kernel accepts on a rule for a file (the others only make sense beneath a directory).
_FILE_RIGHTS = (
    landlockpy.AccessFS.EXECUTE
    | landlockpy.AccessFS.WRITE_FILE
    | landlockpy.AccessFS.READ_FILE
    | landlockpy.AccessFS.TRUNCATE
    | landlockpy.AccessFS.IOCTL_DEV
)


def _allow(ruleset: landlockpy.Ruleset, paths: Iterable[Path], access: landlockpy.AccessFS) -> None:
    for path in paths:
        # A symlink (/etc/localtime → /usr/share/zoneinfo/…, /etc/resolv.conf → /run/…) is followed on access, so
        # its target needs the rule; rules are on what a path resolves to.
        target = Path(os.path.realpath(path))
        if not target.exists():
            continue
        ruleset.allow_path(target, access if target.is_dir() else access & _FILE_RIGHTS)


# -- the platform's side: files the sandbox users may (and may not) reach -------------------------------------


def reachable_by_others(path: Path) -> bool:
    """Whether a user who is neither owner nor in the group may open `path`: x on every directory above it and
    r on the path itself (ACLs aside). A sandbox user is such a user for every platform file."""
    path = Path(os.path.realpath(path))
    try:
        for parent in reversed(path.parents):
            if not parent.stat().st_mode & stat.S_IXOTH:
                return False
        return bool(path.stat().st_mode & stat.S_IROTH)
    except OSError:
        return False


def code_dir() -> Path:
    return Path(settings.ELASTICCODE_CODE_DIR)


def prepare_code_dir() -> None:
    """Make the code tree usable by the sandbox users (when processors get users of their own): its directories
    may be passed through but not listed, so a user reaches its own checkout, venv and working directory by name
    and nothing else. Raises SandboxError when a directory above it is closed to them."""
    root = code_dir()
    root.mkdir(parents=True, exist_ok=True)
    if not switches_users():
        return
    for name in ("", "checkouts", "venvs", "work", "bin", "uv-cache"):
        directory = root / name
        directory.mkdir(exist_ok=True)
        directory.chmod(TRAVERSE)
    data_dir = Path(settings.DATA_DIR)
    if data_dir in root.parents:
        data_dir.chmod(TRAVERSE)  # its other entries stay private (umask 077, secrets 0600)
    if not (root.stat().st_mode & stat.S_IXOTH and all(p.stat().st_mode & stat.S_IXOTH for p in root.parents)):
        closed = next(p for p in [*reversed(root.parents), root] if not p.stat().st_mode & stat.S_IXOTH)
        raise SandboxError(
            f"the code directory {root} is inside {closed}, which the processors' users may not enter: set "
            "ELASTICCODE_CODE_DIR to a directory whose parents all allow others to pass (chmod o+x)"
        )


def share(tree: Path) -> None:
    """Make a finished tree (a checkout, a venv) the platform's and read-only to everyone else: owned by the
    platform, directories 0755, files readable, write bits gone. No sandbox user can then change code another
    processor runs."""
    if not switches_users():
        return
    own = os.geteuid(), os.getegid()
    for directory, dirnames, filenames in os.walk(tree):
        for name in [*dirnames, *filenames]:
            path = os.path.join(directory, name)
            os.lchown(path, *own)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                continue
            keep_x = 0o111 if mode & 0o100 or stat.S_ISDIR(mode) else 0
            os.chmod(path, 0o644 | keep_x)
    os.lchown(tree, *own)
    os.chmod(tree, 0o755)


def passable(directory: Path) -> None:
    """Let the processors' users pass through a directory of the code tree to what they may read in it, without
    listing it. Directories elsewhere (the system's temporary directory) are left as they are."""
    if switches_users() and (directory == code_dir() or code_dir() in directory.parents):
        directory.chmod(TRAVERSE)


def shared_copy(path: Path) -> Path:
    """`path` itself when sandbox users can read it, else a copy under the code tree that they can (the runner
    script and the uv binary live in the platform's checkout and venv, which may sit in a private home)."""
    if not switches_users() or reachable_by_others(path):
        return path
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:16]
    target = code_dir() / "bin" / f"{path.stem}-{digest}{path.suffix}"
    if not target.exists():
        tmp = target.with_name(f".{target.name}.{os.getpid()}")
        tmp.write_bytes(data)
        tmp.chmod(0o755 if os.access(path, os.X_OK) else 0o644)
        tmp.replace(target)
    return target


@functools.cache
def interpreter() -> str:
    """The Python that processor venvs are made from: ELASTICCODE_SANDBOX_PYTHON, else the platform's own, or,
    when that lives where the processors' users may not go (a pyenv under /root), the first python3 on the
    system's PATH that they may run."""
    configured = settings.ELASTICCODE_SANDBOX_PYTHON
    if configured:
        return str(configured)
    own = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    if not switches_users() or reachable_by_others(Path(own)):
        return own
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for name in (version, "python3"):
        found = shutil.which(name, path="/usr/local/bin:/usr/bin:/bin")
        if found and reachable_by_others(Path(found)):
            return os.path.realpath(found)
    raise SandboxError(
        f"no Python that the processors' users may run: the platform's ({own}) is in a private directory and "
        "there is no python3 in /usr/local/bin, /usr/bin or /bin; set ELASTICCODE_SANDBOX_PYTHON to one"
    )


def build_env(*, home: Path, extra_path: Iterable[str] = ()) -> dict[str, str]:
    """The environment of a venv build: built from nothing plus the variables ELASTICCODE_BUILD_ENV names that
    the agent has (package index, proxies, certificates), so a package's setup.py sees no platform setting."""
    env = {
        "PATH": ":".join([*extra_path, "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(home),
        "TMPDIR": str(home / "tmp"),
        "LANG": "C.UTF-8",
        "USER": "elasticcode-build",
        "LOGNAME": "elasticcode-build",
    }
    from flows.runtime.executor import is_secret

    for name in settings.ELASTICCODE_BUILD_ENV:
        if name in os.environ and not is_secret(name):
            env[name] = os.environ[name]
    return env
