"""The sandbox's request schemas are what the vendors' pages give, and nothing else."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest
from helpers import ROOT, SEEDS

SCHEMAS = ROOT / "bulk_tasks" / "sandbox" / "schemas"
#: where the product's own copy of the vendors' pages lives, beside the repository
SHARED_SEEDS = Path(os.environ.get("BULK_TASKS_SEEDS", ROOT.parent / "shared" / "seeds"))


def derive_schemas() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "derive_schemas", ROOT / "tools" / "derive_schemas.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_shipped_schemas_are_derived_from_the_pages() -> None:
    derived = derive_schemas().derived(SEEDS)
    assert sorted(derived) == sorted(path.name for path in SCHEMAS.glob("*.json"))
    for name, text in derived.items():
        assert (SCHEMAS / name).read_text(encoding="utf-8") == text, (
            f"{name} differs from what the pages give: run python tools/derive_schemas.py"
        )


def test_the_pages_are_the_products_own() -> None:
    if not SHARED_SEEDS.is_dir():
        pytest.skip(f"no pages at {SHARED_SEEDS} to compare with (set BULK_TASKS_SEEDS)")
    ours = {path.name: path.read_bytes() for path in SEEDS.iterdir()}
    theirs = {path.name: path.read_bytes() for path in SHARED_SEEDS.iterdir()}
    assert ours == theirs, f"tests/seeds differs from {SHARED_SEEDS}: copy the pages again"


def test_a_changed_page_changes_the_schema(tmp_path: Path) -> None:
    """The check can fail: a page whose limit moved gives another schema."""
    module = derive_schemas()
    for page in SEEDS.iterdir():
        text = page.read_text(encoding="utf-8")
        if page.name == module.ATTIO_CREATE:
            text = text.replace("maxLength: 2000", "maxLength: 3000")
        (tmp_path / page.name).write_text(text, encoding="utf-8")
    changed = module.derived(tmp_path)["attio_create.json"]
    assert changed != (SCHEMAS / "attio_create.json").read_text(encoding="utf-8")
    assert '"maxLength": 3000' in changed
