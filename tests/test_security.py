"""No input reaches eval, pickle or a shell: checked on the source of the whole package."""

from __future__ import annotations

import ast
from pathlib import Path

import streams

PACKAGE = Path(streams.__file__).parent
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__", "os.system", "os.popen", "pickle.loads",
                   "pickle.load", "marshal.loads", "shelve.open", "yaml.unsafe_load", "yaml.full_load"}
FORBIDDEN_MODULES = {"pickle", "marshal", "shelve", "dill", "cloudpickle"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def findings(package: Path = PACKAGE) -> list[str]:
    found = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        where = path.relative_to(package.parent)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                found += [f"{where}:{node.lineno} imports {name}" for name in names
                          if name.split(".")[0] in FORBIDDEN_MODULES]
            if not isinstance(node, ast.Call):
                continue
            name = _dotted(node.func)
            if name in FORBIDDEN_CALLS:
                found.append(f"{where}:{node.lineno} calls {name}")
            if any(k.arg == "shell" and not (isinstance(k.value, ast.Constant) and k.value.value is False)
                   for k in node.keywords):
                found.append(f"{where}:{node.lineno} runs a shell")
            if name == "yaml.load" and not any(k.arg == "Loader" for k in node.keywords):
                found.append(f"{where}:{node.lineno} yaml.load without a safe Loader")
    return found


def test_no_eval_pickle_or_shell_in_the_package():
    assert findings() == []


def test_the_check_finds_what_it_looks_for(tmp_path):
    bad = tmp_path / "streams" / "bad.py"
    bad.parent.mkdir()
    bad.write_text("import pickle\nimport subprocess\neval(x)\nsubprocess.run(cmd, shell=True)\n")
    assert [line.split(" ", 1)[1] for line in findings(bad.parent)] == ["imports pickle", "calls eval", "runs a shell"]
