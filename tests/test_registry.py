import pytest

from mmzoo.registry import Registry, UnknownNameError


def test_register_as_decorator_and_get():
    registry = Registry("widget")

    @registry.register("round", shape="circle")
    def round_widget():
        return "round"

    assert registry.get("round") is round_widget
    assert registry.get("round", shape="circle")() == "round"
    assert "round" in registry and len(registry) == 1
    assert registry.metadata("round") == {"shape": "circle"}


def test_register_object_directly_and_filter_by_metadata():
    registry = Registry("widget")
    registry.register("a", 1, kind="x")
    registry.register("b", 2, kind="y")
    assert registry.names(kind="x") == ["a"]
    assert registry.names() == ["a", "b"]


def test_unknown_name_lists_closest_names():
    registry = Registry("backbone")
    for name in ("resnet50", "mobilenet_v2", "simple_cnn"):
        registry.register(name, object())
    with pytest.raises(KeyError) as error:
        registry.get("resnet51")
    message = str(error.value)
    assert "resnet51" in message and "Did you mean 'resnet50'" in message
    assert "mobilenet_v2" in message  # the full list follows
    # The same error is catchable as ValueError.
    with pytest.raises(ValueError):
        registry.get("resnet51")


def test_metadata_mismatch_is_unknown():
    registry = Registry("backbone")
    registry.register("bigru", object(), modality="text")
    with pytest.raises(UnknownNameError, match="image backbone 'bigru'"):
        registry.get("bigru", modality="image")


def test_duplicate_registration_fails():
    registry = Registry("fusion")
    registry.register("late", 1)
    with pytest.raises(KeyError, match="already registered"):
        registry.register("late", 2)
