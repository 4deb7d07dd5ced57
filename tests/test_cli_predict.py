"""`mmzoo predict` for every task family (run in-process: `mmzoo.cli.main`): each takes
its own flags, and a flag that does not apply is named instead of crashing."""

import json

import pytest

import mmzoo
from mmzoo.cli import main

SAMPLES = mmzoo.__path__[0] + "/samples/avdigits"
PNG = f"{SAMPLES}/digit_7.png"


def predict(capsys, *argv):
    code = main(["predict", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_vqa_takes_a_question(capsys):
    code, out, err = predict(capsys, "vqa_san", "--weights", "easy_vqa", "--image", PNG,
                             "--question", "what color is the shape?", "--top-k", "2",
                             "--json")
    assert code == 0, err
    answers = json.loads(out)
    expected = mmzoo.pipeline("vqa_san", weights="easy_vqa")(
        image=PNG, question="what color is the shape?", top_k=2)
    assert [a["answer"] for a in answers] == [a["answer"] for a in expected]


def test_a_captioner_uses_its_own_decoding(capsys):
    code, out, err = predict(capsys, "caption_sat", "--weights", "flickr8k", "--image",
                             PNG, "--json")
    assert code == 0, err
    expected = mmzoo.pipeline("caption_sat", weights="flickr8k")(image=PNG)
    assert json.loads(out) == expected  # beam search, not sampling with top_k=1


def test_a_retriever_classifies_zero_shot(capsys):
    code, out, err = predict(capsys, "retrieval_dual_encoder", "--weights", "flickr8k",
                             "--image", PNG, "--labels", "dog, a beach", "--top-k", "2",
                             "--json")
    assert code == 0, err
    assert {entry["label"] for entry in json.loads(out)} == {"dog", "a beach"}


@pytest.mark.parametrize("argv, flag", [
    (["vqa_san", "--weights", "easy_vqa", "--image", PNG, "--text", "what color?"],
     "--text"),
    (["caption_sat", "--weights", "flickr8k", "--image", PNG, "--audio", PNG], "--audio"),
    (["caption_sat", "--weights", "flickr8k", "--image", PNG, "--top-k", "3"], "--top-k"),
    (["sentiment_late", "--weights", "avdigits", "--image", PNG, "--question", "why?"],
     "--question"),
])
def test_a_flag_that_does_not_apply_is_named(capsys, argv, flag):
    code, _, err = predict(capsys, *argv)
    assert code == 2
    assert err.startswith(f"mmzoo predict: error: {flag} does not apply to {argv[0]}")
    assert "Traceback" not in err


def test_a_retriever_needs_labels(capsys):
    code, _, err = predict(capsys, "retrieval_dual_encoder", "--weights", "flickr8k",
                           "--image", PNG, "--labels", " , ")
    assert code == 2 and "pass --labels with comma-separated candidate labels" in err
