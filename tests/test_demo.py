"""`mmzoo demo`: shipped weights on the bundled samples, then the SavedModel."""

from mmzoo import demo


def test_the_av_digits_demo_classifies_the_samples_and_the_saved_model_agrees():
    lines = []
    result = demo.run("sentiment_late", "avdigits", out=lines.append)
    truths = [name.split("_")[1] for name in result["names"]]
    assert len(truths) == 10
    assert sum(p == t for p, t in zip(result["labels"]["both"], truths)) >= 9, lines
    assert result["saved_model_matches"], lines
    assert lines[0].startswith("sentiment_late with weights 'avdigits'")
