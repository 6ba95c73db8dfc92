"""The trusted list as the palette reads it: which repositories processors may load code from."""

from __future__ import annotations

from typing import Literal, TypedDict

from django.conf import settings

from flows.models import TrustedRepository

_WILDCARDS = set("*?[")


class TrustedEntry(TypedDict):
    pattern: str  # an fnmatch pattern of git URLs (flows/runtime/repos.py is_trusted)
    note: str
    origin: Literal["settings", "admin"]  # ELASTICCODE_TRUSTED_REPOS, or the admin's list
    # A pattern without wildcards names one repository, which can be browsed as it stands; one with them needs a URL
    # that matches it.
    browsable: bool


def trusted_repositories() -> list[TrustedEntry]:
    """The settings' patterns, then the admin's, each once (the settings' note wins), in their own order; first,
    when local repositories are allowed (ELASTICCODE_ALLOW_FILE_REPOS, on under `make run`), `file://*`, so that a
    newcomer browsing the demo's local repository sees why it is trusted."""
    entries: dict[str, TrustedEntry] = {}
    if settings.ELASTICCODE_ALLOW_FILE_REPOS:
        local = _entry("file://*", "any local path (ELASTICCODE_ALLOW_FILE_REPOS)", "settings")
        entries[local["pattern"]] = local
    for pattern in settings.ELASTICCODE_TRUSTED_REPOS:
        entries.setdefault(pattern, _entry(pattern, "", "settings"))
    for pattern, note in TrustedRepository.objects.order_by("pattern").values_list("pattern", "note"):
        entries.setdefault(pattern, _entry(pattern, note, "admin"))
    return list(entries.values())


def _entry(pattern: str, note: str, origin: Literal["settings", "admin"]) -> TrustedEntry:
    return {"pattern": pattern, "note": note, "origin": origin, "browsable": not (_WILDCARDS & set(pattern))}
