"""The package layout: module sizes, one-way imports, and files saved before the move to
one folder per task family still loading."""

import ast
import pathlib
import subprocess
import sys

import numpy as np
import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "mmzoo"
LEGACY = pathlib.Path(__file__).resolve().parent / "data" / "saved_by_0.1"
MAX_LINES = 420  # "about 400"

# Lower layers never import higher ones (DESIGN.md, "Layout").
LAYERS = [
    ("registry", "checks", "quiet"),
    ("pretrained", "preprocessing", "layers", "reprs"),
    ("backbones", "fusion", "datasets"),
    ("tasks", "presets", "weights"),
    ("zoo", "listing"),
    ("pipelines", "exporting", "training", "cli", "demo"),
]
LAYER_OF = {name: level for level, names in enumerate(LAYERS) for name in names}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


def _imports(path, module, modules):
    """mmzoo modules imported anywhere in `path` (functions included). `from package
    import submodule` counts as importing the submodule only."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1]
                                + ([node.module] if node.module else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules
                          else base)
    return {name for name in found if name in modules and name != module}


def _graph():
    modules = dict(_modules())
    return {name: _imports(path, name, modules) for name, path in modules.items()}


def test_no_module_is_over_about_400_lines():
    long = {str(path.relative_to(PACKAGE)): n for _, path in _modules()
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_the_import_graph_has_no_cycle():
    graph = _graph()
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for target in graph[node]:
            if state.get(target) == "open":
                cycle = stack[stack.index(target):] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, stack + [target])
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node, [node])


def test_imports_flow_down_the_layers():
    upward = []
    for module, targets in _graph().items():
        top = module.split(".")[1] if "." in module else None
        if top not in LAYER_OF:
            continue
        for target in targets:
            other = target.split(".")[1] if "." in target else None
            if other in LAYER_OF and LAYER_OF[other] > LAYER_OF[top]:
                upward.append(f"{module} -> {target}")
    assert not upward, "imports going up a layer: " + ", ".join(sorted(upward))


def test_layout_lists_every_top_level_module():
    tops = {name.split(".")[1] for name, _ in _modules() if "." in name}
    assert tops - {"samples"} <= set(LAYER_OF), tops - set(LAYER_OF)


@pytest.mark.parametrize("kind", ["classifier", "vqa", "captioner", "retriever"])
def test_keras_files_saved_by_0_1_load_in_a_fresh_process(kind, tmp_path):
    """Files written by mmzoo 0.1 (tests/data/saved_by_0.1/make_files.py), before the
    move to one folder per family, load with plain keras.saving.load_model after
    `import keras, mmzoo` and give the outputs recorded then."""
    script = f"""
import sys, numpy as np, keras, mmzoo
model = keras.saving.load_model({str(LEGACY / (kind + '.keras'))!r})
data = np.load({str(LEGACY / 'expected.npz')!r})
inputs = {{
    "classifier": {{"text": data["classifier_text"], "image": data["images"]}},
    "vqa": {{"image": data["images"], "question": data["vqa_question"]}},
    "captioner": {{"image": data["images"], "caption": data["caption_tokens"]}},
    "retriever": {{"image": data["images"], "text": data["retrieval_text"]}},
}}[{kind!r}]
out = model(inputs, training=False)
if isinstance(out, dict):
    out = out["logits"]
np.save({str(tmp_path / 'out.npy')!r}, np.asarray(out))
print(type(model).__module__)
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": ""}, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    expected = np.load(LEGACY / "expected.npz")[
        {"classifier": "classifier_out", "vqa": "vqa_out", "captioner": "caption_out",
         "retriever": "retrieval_logits"}[kind]]
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, atol=1e-5)
    assert run.stdout.strip().startswith("mmzoo.tasks.")
