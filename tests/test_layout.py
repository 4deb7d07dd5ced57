"""The package layout: module sizes, one-way imports, and files saved before the move to
one folder per task family still loading."""

import ast
import json
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
    ("pretrained", "preprocessing", "layers", "reprs", "int8"),
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


KINDS = ["classifier", "vqa", "captioner", "retriever"]

# One fresh process loads the four files (one TensorFlow start-up instead of four). Each
# load is checked to import no mmzoo module that `import keras, mmzoo` had not, so every
# file still loads in the state of a fresh `import keras, mmzoo`, not helped by the
# files loaded before it.
_LEGACY_SCRIPT = """
import json, sys, traceback
import numpy as np, keras, mmzoo
legacy, out = sys.argv[1], sys.argv[2]
data = np.load(legacy + "/expected.npz")
inputs = {
    "classifier": {"text": data["classifier_text"], "image": data["images"]},
    "vqa": {"image": data["images"], "question": data["vqa_question"]},
    "captioner": {"image": data["images"], "caption": data["caption_tokens"]},
    "retriever": {"image": data["images"], "text": data["retrieval_text"]},
}
fresh = {name for name in sys.modules if name.split(".")[0] == "mmzoo"}
report = {}
for kind in sys.argv[3:]:
    try:
        model = keras.saving.load_model(f"{legacy}/{kind}.keras")
        output = model(inputs[kind], training=False)
        if isinstance(output, dict):
            output = output["logits"]
        np.save(f"{out}/{kind}.npy", np.asarray(output))
        report[kind] = {"module": type(model).__module__}
    except Exception:
        report[kind] = {"error": traceback.format_exc()}
    imported = sorted({name for name in sys.modules if name.split(".")[0] == "mmzoo"}
                      - fresh)
    if imported:
        report[kind]["error"] = (f"loading {kind}.keras imported {imported}: the files "
                                 "after it would not load as in a fresh process")
        fresh.update(imported)
with open(f"{out}/report.json", "w") as handle:
    json.dump(report, handle)
"""


@pytest.fixture(scope="module")
def legacy_loads(tmp_path_factory):
    """kind -> (report, folder of outputs) from one fresh process that loads every
    file written by mmzoo 0.1."""
    out = tmp_path_factory.mktemp("legacy")
    run = subprocess.run([sys.executable, "-c", _LEGACY_SCRIPT, str(LEGACY), str(out),
                          *KINDS], capture_output=True, text=True,
                         env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": ""}, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert sorted(report) == sorted(KINDS)
    return report, out


@pytest.mark.parametrize("kind", KINDS)
def test_keras_files_saved_by_0_1_load_in_a_fresh_process(kind, legacy_loads):
    """Files written by mmzoo 0.1 (tests/data/saved_by_0.1/make_files.py), before the
    move to one folder per family, load with plain keras.saving.load_model after
    `import keras, mmzoo` and give the outputs recorded then."""
    report, out = legacy_loads
    assert "error" not in report[kind], report[kind].get("error")
    expected = np.load(LEGACY / "expected.npz")[
        {"classifier": "classifier_out", "vqa": "vqa_out", "captioner": "caption_out",
         "retriever": "retrieval_logits"}[kind]]
    np.testing.assert_allclose(np.load(out / f"{kind}.npy"), expected, atol=1e-5)
    assert report[kind]["module"].startswith("mmzoo.tasks.")
