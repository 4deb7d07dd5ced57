"""`mmzoo demo`: shipped AV-digits weights on the bundled samples, then the SavedModel."""

from mmzoo import demo


def test_demo_classifies_the_bundled_samples_and_the_saved_model_agrees():
    lines = []
    result = demo.run(out=lines.append)
    assert result["total"] == 10
    assert result["correct"]["image+audio"] >= 9, lines
    assert result["saved_model_matches"], lines
    assert lines[0].startswith("sentiment_late with weights 'avdigits'")
