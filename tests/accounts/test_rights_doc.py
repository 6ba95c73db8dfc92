"""README.md's rights table is the registry's, so the docs cannot drift from what is enforced."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backend.accounts.rights import RIGHTS, rights_markdown

README = Path(__file__).resolve().parents[2] / "README.md"
SEED = Path(__file__).resolve().parents[3] / "shared" / "seeds" / "003_3fe995bdb48cad2e.txt"


def test_readme_shows_the_current_rights_table() -> None:
    assert rights_markdown() in README.read_text(), "regenerate: python -m backend.accounts.rights"


def test_every_seed_right_is_mapped() -> None:
    if not SEED.exists():
        pytest.skip("shared/seeds is not beside this checkout")
    text = SEED.read_text()
    block = text[text.index("rights = [") : text.index("]", text.index("rights = ["))]
    seed_rights = set(re.findall(r"'([A-Z_]+)'", block))
    assert seed_rights, "the seed's rights list was not found"
    assert seed_rights <= set(RIGHTS), sorted(seed_rights - set(RIGHTS))
