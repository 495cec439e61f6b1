"""Imports flow one way (kit → models → authz → resolvers → schema → {rest_facade, workers,
portal} → app), and the tenant filter is written in one place only."""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "asteri"
ORDER = ["kit", "models", "authz", "resolvers", "schema"]
# What each layer may not import.
FORBIDDEN = {
    layer: set(ORDER[i + 1 :])
    | {"rest_facade", "workers", "portal", "app", "cli", "demo", "demo_money", "admin"}
    for i, layer in enumerate(ORDER)
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n.split(".")[1] for n in names if n.startswith("asteri.") and n.count(".") >= 1}


@pytest.mark.parametrize("layer", ORDER)
def test_imports_flow_one_way(layer: str) -> None:
    for path in (PACKAGE / layer).rglob("*.py"):
        bad = _imports(path) & FORBIDDEN[layer]
        assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


def test_storage_depends_on_nothing_of_ours() -> None:
    """Blob stores are adapters: any layer may use one, so they import no layer."""
    for path in (PACKAGE / "storage").rglob("*.py"):
        assert _imports(path) <= {"storage"}, f"{path.relative_to(PACKAGE)} imports a layer"


def test_webhooks_depend_on_kit_only() -> None:
    """The webhook building blocks (secrets, signing, ids, the SSRF guard) are pure: any layer
    from models up may use them, and they use nothing but ``kit``; ``kit`` does not use them."""
    for path in (PACKAGE / "webhooks").rglob("*.py"):
        assert _imports(path) <= {"kit", "webhooks"}, f"{path.relative_to(PACKAGE)} imports a layer"
    for path in (PACKAGE / "kit").rglob("*.py"):
        assert "webhooks" not in _imports(path), f"{path.relative_to(PACKAGE)} imports webhooks"


def test_no_hand_written_tenant_filters() -> None:
    """Only ``authz/tenancy.py`` compares ``organization_id``: a forgotten filter cannot hide."""
    pattern = re.compile(r"organization_id\)?\s*==")
    offenders = [
        str(path.relative_to(PACKAGE))
        for layer in ("resolvers", "schema")
        for path in (PACKAGE / layer).rglob("*.py")
        if pattern.search(path.read_text())
    ]
    assert offenders == []
