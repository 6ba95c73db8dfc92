"""Discovering a module's functions and reading a processor's code, statically, at a commit.

POST /api/flows/{id}/discover reads a module for a processor being configured; GET /api/processors/{id}/code reads
a processor's module at its pinned commit. Both parse the checkout with `ast`; nothing of the repository runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from backend.accounts.services import privilege_grant
from flows.models import Processor, TrustedRepository
from tests.conftest import Demo
from tests.runtime.gitrepos import commit, make_repo, tag

PROCESSORS_V1 = '''"""Sample processors."""
from os.path import join

from sample.helpers import imported_helper

TIMEOUT = 3


def _decorator(fn):
    return fn


def _private(x):
    return x


def add(a, b=2, *args, plugs=None):
    """Add numbers.

        Plugs get the sum too.
    """
    return a + b


@_decorator
# scaled by a factor
def scaled(value: int, /, factor: float = 1.5, *, label=join("a", "b"), **options) -> float:
    return value * factor


def count(n):
    for i in range(n):
        yield i


def not_a_generator(n):
    def inner():
        yield n

    return inner
'''

PROCESSORS_V2 = PROCESSORS_V1 + "\n\nasync def newer(x):\n    return x\n"

HELPERS = "def imported_helper():\n    return 1\n"


@dataclass
class Repo:
    path: Path
    url: str
    first: str  # tagged v1
    second: str  # main


@pytest.fixture
def code_dir(settings: Any, tmp_path: Path) -> Path:
    settings.ELASTICCODE_CODE_DIR = tmp_path / "code"
    return settings.ELASTICCODE_CODE_DIR


@pytest.fixture
def repo(tmp_path: Path, code_dir: Path) -> Repo:
    # backend/settings/test.py allows file:// repositories (ELASTICCODE_ALLOW_FILE_REPOS), so this one is trusted.
    path = tmp_path / "repo"
    first = make_repo(
        path, {"sample/__init__.py": "", "sample/helpers.py": HELPERS, "sample/processors.py": PROCESSORS_V1}
    )
    tag(path, "v1")
    second = commit(path, {"sample/processors.py": PROCESSORS_V2})
    return Repo(path, f"file://{path}", first, second)


MODULE_KEYS = {"git_url", "ref", "commit", "module", "subdirectory", "subdirectory_found", "path", "functions"}


def discover(client: APIClient, demo: Demo, **body: Any) -> Any:
    return client.post(f"/api/flows/{demo.flow.pk}/discover", body, format="json")


def code(client: APIClient, processor: Processor, query: str = "") -> Any:
    return client.get(f"/api/processors/{processor.pk}/code{query}")


def deploy(processor: Processor, repo: Repo, *, commit: str = "", module: str = "sample.processors") -> Processor:
    Processor.objects.filter(pk=processor.pk).update(git_url=repo.url, ref="main", module=module, commit=commit)
    processor.refresh_from_db()
    return processor


def line_of(text: str, start: str) -> int:
    return next(number for number, line in enumerate(text.split("\n"), 1) if line.startswith(start))


def error(response: Any) -> str:
    return str(response.json()["error"]["message"])


# -- discover ---------------------------------------------------------------------------------------------------


def test_it_lists_public_functions_with_their_signatures(api: dict[str, APIClient], demo: Demo, repo: Repo) -> None:
    response = discover(api["alice"], demo, git_url=repo.url, module="sample.processors")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == MODULE_KEYS
    assert body["commit"] == repo.second  # "main", the default ref, resolved now
    assert (body["git_url"], body["ref"], body["module"]) == (repo.url, "main", "sample.processors")
    assert body["path"] == "sample/processors.py"
    functions = {f["name"]: f for f in body["functions"]}
    # Private functions and imported ones (join, imported_helper) are not the module's public functions.
    assert [f["name"] for f in body["functions"]] == ["add", "count", "newer", "not_a_generator", "scaled"]

    add = functions["add"]
    assert add == {
        "name": "add",
        "signature": "(a, b=2, *args, plugs=None)",
        "parameters": [
            {"name": "a", "kind": "positional_or_keyword"},
            {"name": "b", "kind": "positional_or_keyword", "default": 2},
            {"name": "args", "kind": "var_positional"},
            {"name": "plugs", "kind": "keyword_only", "default": None},
        ],
        "accepts_plugs": True,
        "generator": False,
        "doc": "Add numbers.\n\nPlugs get the sum too.",
        "line": line_of(PROCESSORS_V2, "def add("),
        "source": 'def add(a, b=2, *args, plugs=None):\n    """Add numbers.\n\n        Plugs get the sum too.\n'
        '    """\n    return a + b\n',
    }

    scaled = functions["scaled"]
    assert scaled["signature"] == '(value: int, /, factor: float = 1.5, *, label=join("a", "b"), **options) -> float'
    assert scaled["parameters"] == [
        {"name": "value", "kind": "positional_only"},
        {"name": "factor", "kind": "positional_or_keyword", "default": 1.5},
        {"name": "label", "kind": "keyword_only", "default_source": 'join("a", "b")'},
        {"name": "options", "kind": "var_keyword"},
    ]
    assert not scaled["accepts_plugs"] and scaled["doc"] == ""
    # `line` is the def line; `source` starts at the decorator and keeps the comment under it.
    assert scaled["line"] == line_of(PROCESSORS_V2, "def scaled(")
    assert scaled["source"].startswith("@_decorator\n# scaled by a factor\ndef scaled(")
    assert scaled["source"].endswith("    return value * factor\n")

    assert functions["count"]["generator"] is True
    # Its yield belongs to the nested function, not to it.
    assert functions["not_a_generator"]["generator"] is False
    assert functions["newer"]["generator"] is False and functions["newer"]["signature"] == "(x)"


def test_it_reads_the_module_without_running_it(
    api: dict[str, APIClient], demo: Demo, tmp_path: Path, code_dir: Path
) -> None:
    marker = tmp_path / "ran"
    source = f"open({str(marker)!r}, 'w').write('imported')\nimport module_that_is_not_installed\n\n\ndef f(x):\n    return x\n"
    path = tmp_path / "sideeffects"
    make_repo(path, {"effects.py": source})
    response = discover(api["alice"], demo, git_url=f"file://{path}", module="effects")
    assert response.status_code == 200, response.content
    assert [f["name"] for f in response.json()["functions"]] == ["f"]
    assert not marker.exists()


def test_a_tag_or_an_older_commit_gives_the_code_at_that_commit(
    api: dict[str, APIClient], demo: Demo, repo: Repo
) -> None:
    for ref in ("v1", repo.first, repo.first[:7]):
        response = discover(api["alice"], demo, git_url=repo.url, ref=ref, module="sample.processors")
        assert response.status_code == 200, (ref, response.content)
        body = response.json()
        assert body["commit"] == repo.first and body["ref"] == ref
        assert "newer" not in [f["name"] for f in body["functions"]]
        add = next(f for f in body["functions"] if f["name"] == "add")
        assert add["line"] == line_of(PROCESSORS_V1, "def add(")


def test_it_finds_packages_subdirectories_and_src_layouts(
    api: dict[str, APIClient], demo: Demo, tmp_path: Path, code_dir: Path
) -> None:
    path = tmp_path / "layouts"
    sha = make_repo(
        path,
        {
            "tools/src/pkg/__init__.py": "def from_init(x):\n    return x\n",
            "tools/src/pkg/deep.py": "def from_deep(x):\n    return x\n",
        },
    )
    url = f"file://{path}"
    package = discover(api["alice"], demo, git_url=url, module="pkg", subdirectory="tools")
    assert package.status_code == 200, package.content
    assert package.json()["path"] == "tools/src/pkg/__init__.py" and package.json()["commit"] == sha
    assert [f["name"] for f in package.json()["functions"]] == ["from_init"]
    deep = discover(api["alice"], demo, git_url=url, module="pkg.deep", subdirectory="tools")
    assert deep.json()["path"] == "tools/src/pkg/deep.py"
    assert [f["name"] for f in deep.json()["functions"]] == ["from_deep"]


def test_a_missing_module_says_where_it_looked(api: dict[str, APIClient], demo: Demo, repo: Repo) -> None:
    response = discover(api["alice"], demo, git_url=repo.url, module="sample.procs")
    assert response.status_code == 400
    assert error(response) == (
        f"module sample.procs not found at commit {repo.second[:7]}: looked for sample/procs.py and "
        "sample/procs/__init__.py (also under src/); check the module and subdirectory"
    )
    assert response.json()["error"]["fields"] == {"module": ["not found"]}

    commit(repo.path, {"tools/readme.txt": "tools\n"})
    in_subdirectory = discover(api["alice"], demo, git_url=repo.url, module="sample.procs", subdirectory="tools")
    assert in_subdirectory.status_code == 400
    assert "under subdirectory tools; check the module and subdirectory" in error(in_subdirectory)

    no_subdirectory = discover(api["alice"], demo, git_url=repo.url, module="sample.procs", subdirectory="nope")
    assert no_subdirectory.status_code == 400
    assert error(no_subdirectory).startswith('subdirectory "nope" not found at commit ')


def test_discovery_finds_the_subdirectory_a_module_is_in_instead_of_failing(
    api: dict[str, APIClient], demo: Demo, repo: Repo
) -> None:
    """Found by a newcomer: the demo's module lives under sample/, and the subdirectory was learnt from an error.
    Discovery finds the directory the module imports from and answers with it, marked as found."""
    commit(
        repo.path,
        {
            "examples/sample/elasticcode_demo/__init__.py": "",
            "examples/sample/elasticcode_demo/job.py": "def run(x):\n    return x\n",
        },
    )
    found = discover(api["alice"], demo, git_url=repo.url, module="elasticcode_demo.job")
    assert found.status_code == 200, found.content
    body = found.json()
    assert (body["subdirectory"], body["subdirectory_found"]) == ("examples/sample", True)
    assert body["path"] == "examples/sample/elasticcode_demo/job.py" and [f["name"] for f in body["functions"]] == [
        "run"
    ]
    wrong = discover(api["alice"], demo, git_url=repo.url, module="sample.processors", subdirectory="examples")
    assert wrong.status_code == 200 and (wrong.json()["subdirectory"], wrong.json()["subdirectory_found"]) == ("", True)
    given = discover(
        api["alice"], demo, git_url=repo.url, module="elasticcode_demo.job", subdirectory="examples/sample"
    )
    assert (given.json()["subdirectory"], given.json()["subdirectory_found"]) == ("examples/sample", False)


def test_a_module_that_does_not_parse_names_the_line(api: dict[str, APIClient], demo: Demo, repo: Repo) -> None:
    sha = commit(repo.path, {"sample/broken.py": "def fine(x):\n    return x\n\n\ndef broken(:\n    pass\n"})
    response = discover(api["alice"], demo, git_url=repo.url, module="sample.broken")
    assert response.status_code == 400
    assert error(response).startswith(f"module sample.broken at commit {sha[:7]} does not parse: line 5: ")
    assert response.json()["error"]["line"] == 5


def test_it_refuses_modules_over_a_megabyte(api: dict[str, APIClient], demo: Demo, repo: Repo) -> None:
    commit(repo.path, {"sample/huge.py": "X = 1\n" * 200_000})
    response = discover(api["alice"], demo, git_url=repo.url, module="sample.huge")
    assert response.status_code == 400
    assert "is 1,200,000 bytes" in error(response) and "(1 MB)" in error(response)


def test_it_does_not_follow_a_link_out_of_the_repository(
    api: dict[str, APIClient], demo: Demo, repo: Repo, tmp_path: Path
) -> None:
    outside = tmp_path / "host_secret.py"
    outside.write_text("def host_secret():\n    return 'password'\n")
    os.symlink(outside, repo.path / "sample" / "leak.py")
    commit(repo.path, {})
    response = discover(api["alice"], demo, git_url=repo.url, module="sample.leak")
    assert response.status_code == 400
    assert "symbolic link out of the repository" in error(response)
    assert b"password" not in response.content


def test_an_unknown_ref_is_clear(api: dict[str, APIClient], demo: Demo, repo: Repo) -> None:
    response = discover(api["alice"], demo, git_url=repo.url, ref="nope", module="sample.processors")
    assert response.status_code == 400
    assert error(response) == f'ref "nope" not found in repository {repo.url}: give a branch, a tag or a commit of it'


def test_it_rejects_untrusted_repo(api: dict[str, APIClient], demo: Demo, repo: Repo, settings: Any) -> None:
    settings.ELASTICCODE_TRUSTED_REPOS = []
    remote = discover(api["alice"], demo, git_url="https://git.example.com/evil/tools.git", module="tools")
    assert remote.status_code == 400
    assert "not on the trusted list" in error(remote) and "ELASTICCODE_TRUSTED_REPOS" in error(remote)
    assert remote.json()["error"]["fields"] == {"git_url": ["not trusted"]}

    settings.ELASTICCODE_ALLOW_FILE_REPOS = False
    local = discover(api["alice"], demo, git_url=repo.url, module="sample.processors")
    assert local.status_code == 400
    assert "ELASTICCODE_ALLOW_FILE_REPOS" in error(local)


def test_bad_input_is_refused_field_by_field(api: dict[str, APIClient], demo: Demo, repo: Repo) -> None:
    not_a_module = discover(api["alice"], demo, git_url=repo.url, module="sample/processors.py")
    assert not_a_module.status_code == 400 and "module" in not_a_module.json()["error"]["fields"]
    escaping = discover(api["alice"], demo, git_url=repo.url, module="sample", subdirectory="../..")
    assert escaping.status_code == 400 and "subdirectory" in escaping.json()["error"]["fields"]
    typo = discover(api["alice"], demo, git_url=repo.url, module="sample", modul="x")
    assert typo.status_code == 400 and "modul" in typo.json()["error"]["fields"]


def test_discover_needs_the_right_to_change_the_flow(api: dict[str, APIClient], demo: Demo, repo: Repo) -> None:
    body = {"git_url": repo.url, "module": "sample.processors"}
    bob = discover(api["bob"], demo, **body)
    assert bob.status_code == 403
    assert error(bob) == "You may not change this flow (demo): ask its owner for the right."
    charlie = discover(api["charlie"], demo, **body)
    assert charlie.status_code == 404
    assert b"sample" not in charlie.content
    assert discover(api["anonymous"], demo, **body).status_code == 401


# -- browsing a trusted repository ------------------------------------------------------------------------------


def modules(client: APIClient, demo: Demo, **body: Any) -> Any:
    return client.post(f"/api/flows/{demo.flow.pk}/modules", body, format="json")


def test_a_repository_lists_its_modules_with_the_subdirectory_to_import_them_from(
    api: dict[str, APIClient], demo: Demo, tmp_path: Path, code_dir: Path
) -> None:
    """The palette browses a trusted repository no processor uses yet: its modules, packages followed by their
    __init__.py, each with the subdirectory a processor needs; tests, private and build files left out."""
    path = tmp_path / "library"
    sha = make_repo(
        path,
        {
            "top.py": "def f(x):\n    return x\n",
            "setup.py": "",
            "pkg/__init__.py": "",
            "pkg/jobs.py": "",
            "pkg/_private.py": "",
            "pkg/test_jobs.py": "",
            "tools/src/deep/__init__.py": "",
            "tools/src/deep/inner/__init__.py": "",
            "tools/src/deep/inner/work.py": "",
            "scripts/run.py": "",
            "tests/test_top.py": "",
            "node_modules/x/y.py": "",
            ".hidden/z.py": "",
        },
        branch="trunk",
    )
    response = modules(api["alice"], demo, git_url=f"file://{path}")
    assert response.status_code == 200, response.content
    body = response.json()
    # Without a ref, the repository's default branch (this one's is not "main").
    assert (body["ref"], body["commit"], body["truncated"]) == ("trunk", sha, False)
    assert [(m["module"], m["subdirectory"], m["path"]) for m in body["modules"]] == [
        ("top", "", "top.py"),
        ("pkg", "", "pkg/__init__.py"),
        ("pkg.jobs", "", "pkg/jobs.py"),
        ("run", "scripts", "scripts/run.py"),
        ("deep", "tools/src", "tools/src/deep/__init__.py"),
        ("deep.inner", "tools/src", "tools/src/deep/inner/__init__.py"),
        ("deep.inner.work", "tools/src", "tools/src/deep/inner/work.py"),
    ]
    # Each one reads as discovery reads it, from the subdirectory given.
    work = discover(
        api["alice"], demo, git_url=f"file://{path}", ref="trunk", module="deep.inner.work", subdirectory="tools/src"
    )
    assert work.status_code == 200 and work.json()["subdirectory_found"] is False


def test_browsing_is_bounded_and_refuses_what_discovery_refuses(
    api: dict[str, APIClient], demo: Demo, repo: Repo, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("flows.selectors.code.MAX_MODULES", 2)
    capped = modules(api["alice"], demo, git_url=repo.url, ref="v1")
    assert capped.status_code == 200 and capped.json()["truncated"] is True and len(capped.json()["modules"]) == 2
    assert capped.json()["commit"] == repo.first

    unknown = modules(api["alice"], demo, git_url=repo.url, ref="nope")
    assert unknown.status_code == 400 and 'ref "nope" not found' in error(unknown)
    typo = modules(api["alice"], demo, git_url=repo.url, branch="main")
    assert typo.status_code == 400 and "branch" in typo.json()["error"]["fields"]
    settings.ELASTICCODE_TRUSTED_REPOS = []
    untrusted = modules(api["alice"], demo, git_url="https://git.example.com/evil/tools.git")
    assert untrusted.status_code == 400 and "not on the trusted list" in error(untrusted)

    body = {"git_url": repo.url}
    assert modules(api["bob"], demo, **body).status_code == 403
    charlie = modules(api["charlie"], demo, **body)
    assert charlie.status_code == 404 and b"sample" not in charlie.content
    assert modules(api["anonymous"], demo, **body).status_code == 401


def test_the_trusted_list_is_read_for_the_palette(api: dict[str, APIClient], settings: Any) -> None:
    settings.ELASTICCODE_TRUSTED_REPOS = ["https://git.example.com/acme/*", "https://git.example.com/tools.git"]
    TrustedRepository.objects.create(pattern="https://git.example.com/tools.git", note="twice: listed once")
    TrustedRepository.objects.create(pattern="https://git.example.org/lib.git", note="the shared library")
    settings.ELASTICCODE_ALLOW_FILE_REPOS = False
    response = api["charlie"].get("/api/repositories/")
    assert response.status_code == 200
    assert response.json() == [
        {"pattern": "https://git.example.com/acme/*", "note": "", "origin": "settings", "browsable": False},
        {"pattern": "https://git.example.com/tools.git", "note": "", "origin": "settings", "browsable": True},
        {
            "pattern": "https://git.example.org/lib.git",
            "note": "the shared library",
            "origin": "admin",
            "browsable": True,
        },
    ]
    assert api["anonymous"].get("/api/repositories/").status_code == 401
    # Local paths allowed (as under `make run`): said first, so the demo's local repository reads as trusted.
    settings.ELASTICCODE_ALLOW_FILE_REPOS = True
    first = api["alice"].get("/api/repositories/").json()[0]
    assert first == {
        "pattern": "file://*", "note": "any local path (ELASTICCODE_ALLOW_FILE_REPOS)", "origin": "settings",
        "browsable": False,
    }  # fmt: skip


# -- a processor's code ----------------------------------------------------------------------------------------


def test_processor_code_is_read_at_the_pinned_commit(api: dict[str, APIClient], demo: Demo, repo: Repo) -> None:
    processor = deploy(demo.p1, repo, commit=repo.first)  # main has moved on since
    response = code(api["alice"], processor)
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {*MODULE_KEYS, "pinned"}
    assert body["pinned"] is True and body["commit"] == repo.first and body["ref"] == "main"
    assert [f["name"] for f in body["functions"]] == ["add", "count", "not_a_generator", "scaled"]


def test_a_processor_never_deployed_is_read_at_its_ref(api: dict[str, APIClient], demo: Demo, repo: Repo) -> None:
    processor = deploy(demo.p1, repo)
    body = code(api["alice"], processor).json()
    assert body["pinned"] is False and body["commit"] == repo.second
    assert "newer" in [f["name"] for f in body["functions"]]


def test_one_function_of_a_processor(api: dict[str, APIClient], demo: Demo, repo: Repo) -> None:
    processor = deploy(demo.p1, repo, commit=repo.first)
    response = code(api["alice"], processor, "?function=count")
    assert response.status_code == 200, response.content
    [count] = response.json()["functions"]
    assert count["name"] == "count" and count["generator"] is True
    assert count["source"] == "def count(n):\n    for i in range(n):\n        yield i\n"
    assert count["line"] == line_of(PROCESSORS_V1, "def count(")

    missing = code(api["alice"], processor, "?function=newer")  # not at the pinned commit
    assert missing.status_code == 404
    assert error(missing) == (
        f"function newer not found in module sample.processors at commit {repo.first[:7]} "
        "(it has: add, count, not_a_generator, scaled)"
    )
    assert code(api["alice"], processor, "?function=not-a-name").status_code == 400


def test_a_pinned_commit_that_is_not_a_sha_is_never_given_to_git(
    api: dict[str, APIClient], demo: Demo, repo: Repo
) -> None:
    processor = deploy(demo.p1, repo, commit="--output=/tmp/x")
    response = code(api["alice"], processor)
    assert response.status_code == 400
    assert "is not a full SHA" in error(response)


def test_processor_code_needs_the_view_code_right(
    api: dict[str, APIClient], alice: Any, bob: Any, demo: Demo, repo: Repo
) -> None:
    processor = deploy(demo.p1, repo, commit=repo.first)
    # bob holds VIEW_FLOW alone: he sees the processor, but VIEW_FLOW does not include reading its code.
    assert api["bob"].get(f"/api/processors/{processor.pk}").status_code == 200
    denied = code(api["bob"], processor)
    assert denied.status_code == 403
    assert error(denied) == "You may not read this processor's code (proc1): ask the flow's owner for the right."
    assert b"def add" not in denied.content

    privilege_grant(right="VIEW_PROCESSOR_CODE", user=bob, obj=demo.flow, granted_by=alice)
    allowed = code(api["bob"], processor)
    assert allowed.status_code == 200, allowed.content
    assert allowed.json()["commit"] == repo.first


def test_charlie_sees_no_code(api: dict[str, APIClient], demo: Demo, repo: Repo) -> None:
    processor = deploy(demo.p1, repo, commit=repo.first)
    response = code(api["charlie"], processor)
    assert response.status_code == 404
    assert b"def add" not in response.content
    assert code(api["charlie"], processor, "?function=add").status_code == 404


def test_both_endpoints_are_documented(api: dict[str, APIClient]) -> None:
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    assert "post" in paths["/api/flows/{id}/discover/"] and "post" in paths["/api/flows/{id}/modules/"]
    assert "get" in paths["/api/repositories/"]
    code_get = paths["/api/processors/{id}/code/"]["get"]
    assert "function" in [parameter["name"] for parameter in code_get["parameters"]]
