"""The demo's word count (examples/sample/elasticcode_examples/words.py), run as plain functions."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

WORDS = Path(__file__).resolve().parents[2] / "examples" / "sample" / "elasticcode_examples" / "words.py"


@pytest.fixture
def words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.chdir(tmp_path)  # aggregate keeps its total in its working directory, as a worker's executor does
    spec = importlib.util.spec_from_file_location("demo_words", WORDS)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_bad_message_is_refused_before_the_total_is_touched(words: ModuleType, tmp_path: Path) -> None:
    """Found by a newcomer: a test message {"a": "x"} sent to aggregate was written into the total before it
    failed, and every word count after it failed too, restart or not."""
    assert words.aggregate({"the": 2}) == {"top": [("the", 2)], "words": 2}
    for bad in ({"a": "x"}, {"a": -1}, {"a": True}, ["the"], "the"):
        with pytest.raises(ValueError, match="aggregate takes word counts"):
            words.aggregate(bad)
    assert json.loads((tmp_path / "word-totals.json").read_text()) == {"the": 2}
    assert words.aggregate({"the": 1, "cat": 1})["words"] == 4


def test_a_total_spoilt_by_an_older_version_heals(words: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "word-totals.json").write_text(json.dumps({"a": "x", "the": 3}))
    assert words.aggregate({"the": 1}) == {"top": [("the", 4)], "words": 4}
    (tmp_path / "word-totals.json").write_text("{not json")
    assert words.aggregate({"dog": 1})["words"] == 1
