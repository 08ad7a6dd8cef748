"""The trainer's module structure: no import cycles between its modules (the testbed as a data and
model source sits below the training loop, the experiment above the command line), and the
registries take a name once."""

import ast
from pathlib import Path

import pytest

from hbpo import advantage, reward

PACKAGE = Path(__file__).resolve().parents[1] / "hbpo"


def module_imports() -> dict[str, set[str]]:
    """hbpo module -> the hbpo modules it imports (at any level: lazy imports count too)."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(("hbpo", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                if target.startswith("hbpo"):
                    deps.add(target)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("hbpo")}
        graph[name] = {d for d in deps if d != name}
    return graph


def test_no_import_cycles():
    graph = module_imports()
    assert "hbpo.config" in graph["hbpo.testbed.experiment"]  # the walk sees relative imports
    cycles = []

    def visit(node, stack):
        if node in stack:
            cycles.append(stack[stack.index(node):] + [node])
            return
        for dep in graph.get(node, ()):
            if dep in graph:
                visit(dep, stack + [node])

    for start in graph:
        visit(start, [])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles[:5])


def test_a_reward_or_estimator_name_is_registered_once():
    with pytest.raises(ValueError, match="reward 'hbpo' is already registered"):
        reward.register_reward("hbpo")(lambda *a: None)
    with pytest.raises(ValueError, match="advantage estimator 'grpo' is already registered"):
        advantage.register_estimator("grpo")(lambda *a: None)
    assert reward.REWARDS["hbpo"] is reward.hbpo_reward


def test_the_engines_config_accepts_are_the_registered_ones():
    from hbpo import engines
    from hbpo.config import ENGINE_NAMES

    assert tuple(engines.ENGINES) == ENGINE_NAMES
    with pytest.raises(ValueError, match="engine 'hf' is registered twice"):
        engines.register_engine("hf")(type("Again", (), {}))
