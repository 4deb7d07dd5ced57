"""`mmzoo list` / `describe` without TensorFlow: the data they read is checked against
the task classes and built models."""

import json
import subprocess
import sys

import pytest

import mmzoo
from mmzoo import listing
from mmzoo.registry import PRESETS, TASKS
from mmzoo.tasks.building import constructor_defaults
from tools.preset_parameters import count_parameters


def test_listing_and_describing_import_no_tensorflow():
    code = """
import contextlib, io, sys
import mmzoo
from mmzoo.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    codes = [main(["list"]), main(["list", "--params", "--json"]),
             main(["describe", "sentiment_late"]), main(["describe", "vqa_san", "--json"])]
    mmzoo.list_models(task="vqa")
    print(mmzoo.describe("caption_sat"))
assert codes == [0, 0, 0, 0], codes
assert "caption_sat" in out.getvalue()
print(sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("task", sorted(listing.TASK_DEFAULTS))
def test_task_defaults_table_matches_the_constructors(task):
    defaults = constructor_defaults(TASKS.get(task))
    assert {key: defaults[key] for key in listing.TASK_DEFAULTS[task]} == \
        listing.TASK_DEFAULTS[task]
    assert set(listing.TASK_DEFAULTS) == set(TASKS.names())


def test_summaries_match_the_task_classes():
    for name in PRESETS.names():
        spec = PRESETS.get(name)
        expected = TASKS.get(spec["task"]).summarize_config(spec["config"])
        assert listing.summarize_config(spec["task"], spec["config"]) == expected, name
    overridden = {"modalities": ("image",), "fusion": "late"}
    assert listing.summarize_config("classifier", overridden) == \
        TASKS.get("classifier").summarize_config(overridden)
    assert listing.summarize_config("vqa", {"modalities": ["question"]})["fusion"] == "none"


def test_recorded_parameter_counts_are_current():
    assert listing.parameter_counts() == count_parameters(), \
        "run: python tools/preset_parameters.py"


def test_describe_is_a_dict_that_prints_as_the_cli_table(capsys):
    info = mmzoo.describe("sentiment_gmu")
    assert isinstance(info, dict) and json.loads(json.dumps(info)) == dict(info)
    assert info["parameters"] == listing.parameter_counts()["sentiment_gmu"]
    assert info["config"] == PRESETS.get("sentiment_gmu")["config"]
    assert info["weights"] == {}
    lines = repr(info).splitlines()
    assert lines[0].startswith("sentiment_gmu: Text + image + audio classifier")
    assert lines[1:] == [
        "  task            classifier",
        "  modalities      text, image, audio",
        "  text backbone   bigru",
        "  image backbone  simple_cnn",
        "  audio backbone  mel_cnn",
        "  fusion          gated",
        "  parameters      3,027,778",
        "  weights         none shipped (random initialisation)"]
    assert str(info) == repr(info)
    from mmzoo.cli import main

    assert main(["describe", "sentiment_gmu"]) == 0
    assert capsys.readouterr().out == repr(info) + "\n"


def test_describe_lists_shipped_metrics():
    info = mmzoo.describe("vqa_san")
    assert info["weights"]["easy_vqa"]["validation_accuracy"] > 0.99
    assert "  weights            easy_vqa: validation_accuracy 0.99" in repr(info)


def test_unknown_names_are_clear_errors():
    with pytest.raises(ValueError, match="Unknown preset 'sentiment_lte'. Did you mean "
                                         "'sentiment_late'"):
        mmzoo.describe("sentiment_lte")
    with pytest.raises(ValueError, match="Unknown task 'vq'. Did you mean 'vqa'"):
        mmzoo.list_models(task="vq")
