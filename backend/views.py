"""The browser app: Django's session login in front of the flow designer built from frontend/."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.views.decorators.csrf import ensure_csrf_cookie

ENTRY = "src/main.tsx"


@lru_cache(maxsize=4)
def _assets(path: Path, mtime: float) -> dict[str, Any]:
    """The entry's script and stylesheets from Vite's manifest; cached until the file changes (a rebuild)."""
    manifest = json.loads(path.read_text())
    entry = manifest[ENTRY]
    return {
        "script": static(f"app/{entry['file']}"),
        "styles": [static(f"app/{css}") for css in entry.get("css", [])],
    }


def frontend_assets() -> dict[str, Any] | None:
    path = Path(settings.ELASTICCODE_FRONTEND_MANIFEST)
    try:
        return _assets(path, path.stat().st_mtime)
    except (OSError, KeyError, ValueError):
        return None


@login_required
@ensure_csrf_cookie
def app(request: HttpRequest, **_: Any) -> HttpResponse:
    """Every page of the designer (the app routes itself); a clear page instead of a blank one when not built."""
    assets = frontend_assets()
    if assets is None:
        return render(request, "frontend_missing.html", status=503)
    return render(request, "app.html", {"assets": assets})
