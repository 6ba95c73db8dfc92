"""Reads of a processor's code: its module's public functions and their source, at one commit.

The module is read from the cached checkout and parsed with `ast`; it is never imported, so nothing of the user's
code runs in the web process. The shape of a function is the runtime's (flows/runtime/runner.py `describe`), plus
the def `line` and the `source` text, so the designer shows before a deploy what the workers will find after it.
"""

from __future__ import annotations

import ast
import json
import re
from importlib.util import decode_source
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from backend.errors import ApplicationError, NotFound
from flows.models import Processor
from flows.runtime.repos import CodeError, check_trusted, checkout, default_branch, resolve
from flows.validators import MODULE_RE

MAX_MODULE_BYTES = 1024 * 1024
FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
_encode = json.JSONEncoder(allow_nan=False).encode


class ParameterInfo(TypedDict):
    name: str
    kind: str  # inspect.Parameter.kind, lowercased: positional_only … var_keyword
    default: NotRequired[Any]  # the literal default, when it is a JSON value
    default_source: NotRequired[str]  # the default's source text, when it is not


class FunctionInfo(TypedDict):
    name: str
    signature: str
    parameters: list[ParameterInfo]
    accepts_plugs: bool
    generator: bool
    doc: str
    line: int
    source: str


class ModuleCode(TypedDict):
    git_url: str
    ref: str
    commit: str
    module: str
    # Where the package was found: the subdirectory given, or the one discovery found the module in when it was not
    # where the given one said (`subdirectory_found` true: save it on the processor, or its workers cannot import).
    subdirectory: str
    subdirectory_found: bool
    path: str
    functions: list[FunctionInfo]


class ProcessorCode(ModuleCode):
    pinned: bool


class ModuleInfo(TypedDict):
    module: str  # dotted, as a processor's `module`
    subdirectory: str  # as a processor's `subdirectory` ("" for the top of the checkout)
    path: str  # the file, from the top of the checkout


class RepositoryModules(TypedDict):
    git_url: str
    ref: str
    commit: str
    modules: list[ModuleInfo]
    truncated: bool


def module_functions(
    *, git_url: str, ref: str, module: str, subdirectory: str = "", commit: str | None = None
) -> ModuleCode:
    """The public functions of `module` at the commit `ref` resolves to now (or at `commit`, when given)."""
    if not MODULE_RE.match(module):
        raise ApplicationError(
            f"{module!r} is not a module path: give a dotted Python module path such as 'ext.sample'.",
            {"fields": {"module": ["not a dotted module path"]}},
        )
    commit, tree = _checkout(git_url, ref, commit)
    try:
        path = _module_file(tree, module, subdirectory, commit)
        found = False
    except ApplicationError:
        # Found by a newcomer: the subdirectory was learnt from this error. Look for the module in the checkout and
        # use the directory it is in, saying so, instead of failing; fail as before when it is nowhere.
        elsewhere = find_subdirectory(tree, module)
        if elsewhere is None or elsewhere == subdirectory:
            raise
        subdirectory, found = elsewhere, True
        path = _module_file(tree, module, subdirectory, commit)
    text = _read(path, module, commit)
    return {
        "git_url": git_url,
        "ref": ref,
        "commit": commit,
        "module": module,
        "subdirectory": subdirectory,
        "subdirectory_found": found,
        "path": path.relative_to(tree).as_posix(),
        "functions": _functions(_parse(text, path, module, commit), text),
    }


def repository_modules(*, git_url: str, ref: str | None = None) -> RepositoryModules:
    """The Python modules of a repository at the commit `ref` (default: its default branch) resolves to, each
    with the subdirectory to import it from: for browsing a trusted repository before any processor uses it.
    Packages are followed by their __init__.py; tests, private modules and build or hidden directories are left
    out; at most MAX_MODULES, shallowest first (`truncated` says when there were more)."""
    if ref is None:
        try:
            check_trusted(git_url)
            ref = default_branch(git_url)
        except CodeError as exc:
            raise ApplicationError(str(exc), {"fields": {"git_url": [str(exc)]}}) from None
    commit, tree = _checkout(git_url, ref, None)
    modules, truncated = _modules(tree)
    return {"git_url": git_url, "ref": ref, "commit": commit, "modules": modules, "truncated": truncated}


def processor_code(*, processor: Processor, function: str | None = None) -> ProcessorCode:
    """The processor's functions at its pinned commit (the one its workers run), or at what its ref resolves to
    when it was never deployed; with `function`, only that one."""
    pinned = bool(processor.commit)
    code = module_functions(
        git_url=processor.git_url,
        ref=processor.ref,
        module=processor.module,
        subdirectory=processor.subdirectory,
        commit=processor.commit or None,
    )
    functions = code["functions"]
    if function is not None:
        functions = [f for f in functions if f["name"] == function]
        if not functions:
            names = ", ".join(f["name"] for f in code["functions"]) or "no public functions"
            raise NotFound(
                f"function {function} not found in module {code['module']} at commit {code['commit'][:7]} "
                f"(it has: {names})",
                {"fields": {"function": ["unknown function"]}},
            )
    return {**code, "functions": functions, "pinned": pinned}


# -- finding and reading the module file ---------------------------------------------------------------------


def _checkout(git_url: str, ref: str, commit: str | None) -> tuple[str, Path]:
    """(commit, tree): the trusted repository checked out at `commit`, or at the commit `ref` resolves to now."""
    try:
        check_trusted(git_url)
    except CodeError as exc:
        raise ApplicationError(str(exc), {"fields": {"git_url": ["not trusted"]}}) from None
    try:
        if commit is None:
            commit = resolve(git_url, ref)
        elif not FULL_SHA.match(commit):
            # Never hand git something that could read as an option; pinned commits are full SHAs.
            raise ApplicationError(f"commit {commit!r} is not a full SHA: resolve the ref again (redeploy).")
        return commit, checkout(git_url, commit)
    except CodeError as exc:
        raise ApplicationError(str(exc)) from None


MAX_MODULES = 200
_TEST_DIRECTORIES = {"test", "tests", "testing"}
_NOT_MODULES = {"setup", "conftest", "noxfile", "fabfile", "manage"}


def _modules(tree: Path) -> tuple[list[ModuleInfo], bool]:
    """The importable modules of a checkout, breadth first to SEARCH_DEPTH (see repository_modules)."""
    root = tree.resolve()
    found: list[ModuleInfo] = []
    level = [root]
    for _ in range(SEARCH_DEPTH + 1):
        children: list[Path] = []
        for directory in sorted(level):
            for entry in sorted(directory.iterdir()):
                if entry.is_symlink() or entry.name.startswith("."):
                    continue
                if entry.is_dir():
                    if entry.name not in _SKIP and entry.name not in _TEST_DIRECTORIES:
                        children.append(entry)
                    continue
                module = _module_of(root, entry)
                if module is None:
                    continue
                if len(found) == MAX_MODULES:
                    return found, True
                found.append(module)
        level = children
    return found, False


def _module_of(root: Path, path: Path) -> ModuleInfo | None:
    """`path` as a module: its name is the file's stem under the packages (directories with an __init__.py) it is
    in; the directory above the outermost package is the subdirectory to import it from."""
    stem = path.name.removesuffix(".py")
    if path.suffix != ".py" or stem in _NOT_MODULES or stem.startswith("test_") or stem.endswith("_test"):
        return None
    if stem.startswith("_") and stem != "__init__":
        return None
    parts = [] if stem == "__init__" else [stem]
    directory = path.parent
    while directory != root and (directory / "__init__.py").is_file():
        parts.insert(0, directory.name)
        directory = directory.parent
    name = ".".join(parts)
    if not parts or not MODULE_RE.match(name) or any(part.startswith("_") for part in parts[:-1]):
        return None
    subdirectory = directory.relative_to(root).as_posix() if directory != root else ""
    return {"module": name, "subdirectory": subdirectory, "path": path.relative_to(root).as_posix()}


SEARCH_DEPTH = 4
_SKIP = {"node_modules", "venv", ".venv", "__pycache__", "site-packages", "build", "dist"}


def find_subdirectory(tree: Path, module: str) -> str | None:
    """The shallowest directory of the checkout (at most SEARCH_DEPTH levels down, hidden and build directories
    skipped) from which `module` imports, as a subdirectory ("" for the top, whose src/ layout _module_file already
    tries); None when there is none."""
    relative = module.replace(".", "/")
    root = tree.resolve()
    level = [root]
    for _ in range(SEARCH_DEPTH + 1):
        for directory in sorted(level):
            for candidate in (directory / f"{relative}.py", directory / relative / "__init__.py"):
                if candidate.is_file() and candidate.resolve().is_relative_to(root):
                    return directory.relative_to(root).as_posix() if directory != root else ""
        level = [
            child
            for directory in level
            for child in directory.iterdir()
            if child.is_dir() and not child.is_symlink() and not child.name.startswith(".") and child.name not in _SKIP
        ]
    return None


def _module_file(tree: Path, module: str, subdirectory: str, commit: str) -> Path:
    short = commit[:7]
    where = f" under subdirectory {subdirectory}" if subdirectory else ""
    base = tree / subdirectory if subdirectory else tree
    if subdirectory and (subdirectory.startswith("/") or ".." in subdirectory.split("/") or not base.is_dir()):
        raise ApplicationError(
            f'subdirectory "{subdirectory}" not found at commit {short}: give a directory of the repository',
            {"fields": {"subdirectory": ["not found"]}},
        )
    relative = module.replace(".", "/")
    candidates = (f"{relative}.py", f"{relative}/__init__.py")
    root = tree.resolve()
    for prefix in ("", "src/"):
        for candidate in candidates:
            path = base / f"{prefix}{candidate}"
            if not path.is_file():
                continue
            # A checkout may hold symbolic links; one that leads out of it must not show a file of this host.
            if not path.resolve().is_relative_to(root):
                raise ApplicationError(
                    f"module {module} at commit {short} is a symbolic link out of the repository; "
                    "make it a regular file",
                    {"fields": {"module": ["link out of the repository"]}},
                )
            return path
    raise ApplicationError(
        f"module {module} not found at commit {short}: looked for {candidates[0]} and {candidates[1]} "
        f"(also under src/){where}; check the module and subdirectory",
        {"fields": {"module": ["not found"]}},
    )


def _read(path: Path, module: str, commit: str) -> str:
    size = path.stat().st_size
    if size > MAX_MODULE_BYTES:
        raise ApplicationError(
            f"module {module} at commit {commit[:7]} is {size:,} bytes; modules over "
            f"{MAX_MODULE_BYTES:,} bytes (1 MB) are not read: split it into smaller modules",
            {"fields": {"module": ["too large"]}},
        )
    raw = path.read_bytes()
    try:
        # Honours a PEP 263 coding line and a BOM, as the import system does.
        return decode_source(raw)
    except (SyntaxError, UnicodeDecodeError, LookupError) as exc:
        raise ApplicationError(
            f"module {module} at commit {commit[:7]} is not readable Python text: {exc}",
            {"fields": {"module": ["not text"]}},
        ) from None


def _parse(text: str, path: Path, module: str, commit: str) -> ast.Module:
    try:
        return ast.parse(text, filename=path.name)
    except SyntaxError as exc:
        where = f"line {exc.lineno}: " if exc.lineno else ""
        raise ApplicationError(
            f"module {module} at commit {commit[:7]} does not parse: {where}{exc.msg}",
            {"fields": {"module": ["syntax error"]}, "line": exc.lineno},
        ) from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise ApplicationError(
            f"module {module} at commit {commit[:7]} does not parse: {type(exc).__name__}: {exc}",
            {"fields": {"module": ["syntax error"]}},
        ) from None


# -- describing functions from the syntax tree ----------------------------------------------------------------

# (kind, argument, default expression or None), in the order of the signature.
_Param = tuple[str, ast.arg, ast.expr | None]


def _functions(tree: ast.Module, text: str) -> list[FunctionInfo]:
    # Split on "\n" alone, as the parser counts lines (str.splitlines also breaks at form feeds and the like);
    # decode_source has already turned "\r\n" and "\r" into "\n". Split once: ast.get_source_segment splits the
    # whole module on every call.
    lines = text.split("\n")
    found: dict[str, FunctionInfo] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_"):
            # A later def of the same name replaces the earlier one, as it does when the module runs.
            found[node.name] = _describe(node, lines)
    # Sorted by name, like the runtime's describe (inspect.getmembers).
    return [found[name] for name in sorted(found)]


def _describe(node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> FunctionInfo:
    params = _params(node.args)
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    last = node.end_lineno or node.lineno
    return {
        "name": node.name,
        "signature": _signature(node, params, lines),
        "parameters": [_parameter(kind, arg, default, lines) for kind, arg, default in params],
        "accepts_plugs": any(arg.arg == "plugs" for _, arg, _ in params),
        # An async def with a yield is an async generator, which inspect.isgeneratorfunction does not count.
        "generator": isinstance(node, ast.FunctionDef) and _yields(node),
        "doc": ast.get_docstring(node) or "",
        "line": node.lineno,
        "source": "\n".join(lines[first - 1 : last]) + "\n",
    }


def _params(args: ast.arguments) -> list[_Param]:
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    out: list[_Param] = []
    for index, arg in enumerate(positional):
        kind = "positional_only" if index < len(args.posonlyargs) else "positional_or_keyword"
        out.append((kind, arg, defaults[index]))
    if args.vararg is not None:
        out.append(("var_positional", args.vararg, None))
    out += [("keyword_only", arg, default) for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True)]
    if args.kwarg is not None:
        out.append(("var_keyword", args.kwarg, None))
    return out


def _parameter(kind: str, arg: ast.arg, default: ast.expr | None, lines: list[str]) -> ParameterInfo:
    info: ParameterInfo = {"name": arg.arg, "kind": kind}
    if default is None:
        return info
    try:
        value = ast.literal_eval(default)
        _encode(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        # Not a literal (a name, a call) or not JSON (a set, bytes, inf): show the code that computes it.
        info["default_source"] = _code(default, lines)
    else:
        info["default"] = value
    return info


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef, params: list[_Param], lines: list[str]) -> str:
    """The text str(inspect.signature(f)) gives ("(a: int = 2, /, b=3, *, c) -> str"), so the designer shows
    what the runtime will."""
    parts: list[str] = []
    for index, (kind, arg, default) in enumerate(params):
        if kind == "keyword_only" and (index == 0 or params[index - 1][0] not in ("keyword_only", "var_positional")):
            parts.append("*")
        part = {"var_positional": "*", "var_keyword": "**"}.get(kind, "") + arg.arg
        if arg.annotation is not None:
            part += f": {_code(arg.annotation, lines)}"
        if default is not None:
            part += (" = " if arg.annotation is not None else "=") + _code(default, lines)
        parts.append(part)
        if kind == "positional_only" and (index + 1 == len(params) or params[index + 1][0] != "positional_only"):
            parts.append("/")
    returns = f" -> {_code(node.returns, lines)}" if node.returns is not None else ""
    return f"({', '.join(parts)}){returns}"


def _code(node: ast.expr, lines: list[str]) -> str:
    """An expression as its author wrote it ("1e400", not unparse's "1e309"); one spanning lines is unparsed onto
    one."""
    if node.end_lineno != node.lineno or node.end_col_offset is None:
        return ast.unparse(node)
    # Column offsets count UTF-8 bytes.
    return lines[node.lineno - 1].encode()[node.col_offset : node.end_col_offset].decode()


def _yields(node: ast.FunctionDef) -> bool:
    """A yield of the function itself. One inside a nested def, lambda or class belongs to that scope, but the
    nested one's decorators, defaults and bases run in this function, so they are searched."""
    pending: list[ast.AST] = list(node.body)
    while pending:
        current = pending.pop()
        if isinstance(current, ast.Yield | ast.YieldFrom):
            return True
        if isinstance(current, ast.FunctionDef | ast.AsyncFunctionDef):
            pending += [*current.decorator_list, *_defaults(current.args)]
        elif isinstance(current, ast.Lambda):
            pending += _defaults(current.args)
        elif isinstance(current, ast.ClassDef):
            pending += [*current.decorator_list, *current.bases, *current.keywords]
        else:
            pending.extend(ast.iter_child_nodes(current))
    return False


def _defaults(args: ast.arguments) -> list[ast.expr]:
    return [*args.defaults, *(default for default in args.kw_defaults if default is not None)]
