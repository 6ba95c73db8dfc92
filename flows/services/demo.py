"""The demo `make run` starts: examples/sample as a local git repository, and examples/demo_flow.json as a flow."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import git
from django.conf import settings
from django.db import transaction

from flows.api.serializers import FlowDocumentSerializer
from flows.models import Flow, Processor
from flows.services.transfer import flow_import

EXAMPLES = Path(settings.BASE_DIR) / "examples"


def demo_repository(target: Path) -> str:
    """Copy examples/sample into a git repository at `target`, committing only when the files changed; returns
    its file:// URL."""
    repo = git.Repo(target) if (target / ".git").exists() else git.Repo.init(target, initial_branch="main")
    source = EXAMPLES / "sample"
    dest_root = target / "sample"  # the demo flow's processors use subdirectory "sample"
    for path in source.rglob("*"):
        if "__pycache__" in path.parts or path.suffix == ".pyc" or ".egg-info" in str(path):
            continue
        dest = dest_root / path.relative_to(source)
        if path.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
    repo.git.add("-A")
    if repo.is_dirty(index=True, untracked_files=True) or not repo.head.is_valid():
        with repo.config_writer() as config:
            config.set_value("user", "name", "ElasticCode demo")
            config.set_value("user", "email", "demo@elasticcode.invalid")
        repo.index.commit("ElasticCode demo processors")
    return f"file://{target.resolve()}"


def demo_document(repo_url: str) -> dict[str, Any]:
    text = (EXAMPLES / "demo_flow.json").read_text().replace("{demo_repo}", repo_url)
    return json.loads(text)


@transaction.atomic
def demo_install(*, user: Any, repo_url: str, start: bool = True) -> Flow:
    """The demo flow owned by `user`, created if missing; with `start`, the processors of a flow it creates are asked
    to run. An existing demo flow is left as its users left it (found by a newcomer: every `make run` restarted the
    processors they had stopped)."""
    doc = demo_document(repo_url)
    flow = Flow.objects.filter(owner=user, name=doc["name"]).first()
    if flow is not None:
        return flow
    serializer = FlowDocumentSerializer(data=doc)
    serializer.is_valid(raise_exception=True)
    flow = flow_import(user=user, doc=dict(serializer.validated_data))
    if start:
        Processor.objects.filter(flow=flow).update(requested_status="running")
    return flow
