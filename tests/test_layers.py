"""The package's layers, read from the imports (docs/ARCHITECTURE.md).

Bottom-up: a module imports only from its own layer, lower layers and the shared
bottom; commands import anything below except another command; core sits
between outputs and commands; cli is the top."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "scripts" / "ai_budget"
BOTTOM = {"atomic", "errors", "notices", "paths", "records", "timefmt", "tokens"}
LAYERS = ["bottom", "sources", "state", "analysis", "outputs", "core", "commands", "cli"]


def layer(module: str) -> str:
    """ai_budget.X.Y → its layer name."""
    parts = module.split(".")[1:] or ["__init__"]
    head = parts[0]
    if head in BOTTOM or head == "__init__":
        return "bottom"
    assert head in LAYERS, f"{module}: not in any layer; add it to tests/test_layers.py and docs/ARCHITECTURE.md"
    return head


def imports(path: Path, root: Path) -> list[str]:
    """Every ai_budget module a file imports, at the top or inside a function."""
    rel = path.relative_to(root.parent).with_suffix("").parts
    package = list(rel[:-1])  # what a relative import starts from, for a module and a package alike
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = ".".join(package[:len(package) - node.level + 1])
            out += [f"{base}.{node.module}"] if node.module else [f"{base}.{a.name}" for a in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ai_budget"):
            out.append(node.module)
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.startswith("ai_budget")]
    return out


def violations(root: Path = PACKAGE) -> list[str]:
    commands = {p.stem for p in (root / "commands").glob("*.py")} - {"__init__"}
    bad = []
    for path in sorted(root.rglob("*.py")):
        name = ".".join(path.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__")
        me = layer(name)
        for target in imports(path, root):
            them = layer(target)
            if LAYERS.index(them) > LAYERS.index(me):
                bad.append(f"{name} ({me}) imports {target} ({them})")
            elif target.startswith("ai_budget.commands.") and target.split(".")[2] in commands \
                    and me == "commands" and target != name:
                bad.append(f"{name} imports another command: {target}")
    return bad


def test_imports_follow_the_layers():
    assert violations() == []


def test_the_check_sees_a_violation(tmp_path):
    root = tmp_path / "ai_budget"
    for folder in ("state", "commands", "analysis"):
        (root / folder).mkdir(parents=True)
        (root / folder / "__init__.py").write_text("")
    (root / "state" / "x.py").write_text("from ..analysis import reports\n")
    (root / "commands" / "a.py").write_text("def f():\n    from .b import g\n")
    (root / "commands" / "b.py").write_text("from . import Result\nfrom ..state import x\n")
    assert violations(root) == ["ai_budget.commands.a imports another command: ai_budget.commands.b",
                                "ai_budget.state.x (state) imports ai_budget.analysis (analysis)"]
