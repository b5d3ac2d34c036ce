"""The trust boundary's limits at their exact edges and its one-line refusals word for word: the parts of
resreg/trust.py that mutation testing (docs/testing.md) found no test looking at."""

from __future__ import annotations

import re

import pytest

from resreg.errors import WeightsError
from resreg.trust import MAX_DEPTH, MAX_NODES, MAX_STRING, check_components, check_untrusted_spec

WHERE = "hf-hub:me/r20: resreg.yaml"


def refused(spec: object) -> str:
    with pytest.raises(WeightsError) as error:
        check_untrusted_spec(spec, WHERE)
    return str(error.value)


def nested(levels: int) -> dict:
    spec: dict = {"depth": 1}
    for _ in range(levels):
        spec = {"inner": spec}
    return spec


def test_a_spec_that_is_not_a_mapping_is_refused_naming_its_type() -> None:
    assert refused(["resnet"]) == f"{WHERE}: the model spec is not a mapping (got list)"


def test_nesting_is_allowed_to_max_depth_and_refused_one_level_deeper() -> None:
    check_untrusted_spec(nested(MAX_DEPTH - 1), WHERE)  # its innermost value is at depth MAX_DEPTH
    assert f"nested deeper than {MAX_DEPTH} levels" in refused(nested(MAX_DEPTH))


def test_list_items_count_as_one_level_each() -> None:
    spec: object = 1
    for _ in range(MAX_DEPTH):
        spec = [spec]
    assert "nested deeper" in refused({"items": spec})
    check_untrusted_spec({"items": spec[0]}, WHERE)


def test_max_nodes_values_are_allowed_and_one_more_is_refused() -> None:
    # the spec mapping itself and its list count as two values
    check_untrusted_spec({"values": [0] * (MAX_NODES - 2)}, WHERE)
    message = refused({"values": [0] * (MAX_NODES - 1)})
    assert message == f"{WHERE}: the model spec holds more than {MAX_NODES} values; not a model spec"


def test_strings_of_max_string_characters_are_allowed_and_longer_ones_refused() -> None:
    check_untrusted_spec({"name": "a" * MAX_STRING}, WHERE)
    message = refused({"name": "a" * (MAX_STRING + 1)})
    assert message == f"{WHERE}: spec.name: a string of {MAX_STRING + 1} characters; names are short"


def test_a_control_character_is_refused_quoting_the_first_40_characters() -> None:
    text = "a" * 39 + "\n" + "b" * 10
    assert refused({"name": text}) == f"{WHERE}: spec.name: {text[:40]!r} holds control characters"


def test_keys_are_checked_as_names_where_they_are() -> None:
    assert refused({"block": {1: "x"}}) == f"{WHERE}: spec.block: key 1 is not a name"
    assert refused({"block": {"a\tb": 1}}) == f"{WHERE}: spec.block: 'a\\tb' holds control characters"


@pytest.mark.parametrize("value", ["a/b", "a\\b", "~me", ".hidden", "s3x://bucket", "hf-hub:me", "w.safetensors"])
def test_each_kind_of_location_alone_is_refused(value: str) -> None:
    message = refused({"blocks": [{"name": value}]})
    assert message == (
        f"{WHERE}: spec.blocks.0.name: refused: {value!r} reads as a path, URL or repo, and a spec read from a "
        "file or repo may only describe an architecture"
    )


@pytest.mark.parametrize(("key", "why"), [
    ("allow_pickle", "names a weight source or how weights are read"),
    ("allow_unpickling", "names a weight source or how weights are read"),
    ("init_file", "names a path, URL, repo or weight source"),
])  # fmt: skip
def test_a_refused_key_is_named_with_the_reason(key: str, why: str) -> None:
    assert refused({"stem": {key: 1}}) == (
        f"{WHERE}: spec.stem.{key}: refused: a spec read from a file or repo {why}; only the caller "
        "chooses weight sources (a spec argument, a config of your own, or pretrained=)"
    )


def test_values_that_are_not_plain_data_are_refused_naming_their_type() -> None:
    assert refused({"width": b"64"}) == f"{WHERE}: spec.width: a bytes is not spec data"
    check_untrusted_spec({"none": None, "flag": True, "n": 3, "x": 0.5}, WHERE)


def test_components_lists_of_up_to_1000_records_are_read_and_longer_ones_refused() -> None:
    record = {"kind": "block", "name": "basic"}
    assert check_components([record] * 1000, WHERE)[0] == {
        "kind": "block", "name": "basic", "distribution": "?", "version": "?"
    }  # fmt: skip
    expected = f"{WHERE}: components: expected a list of {{kind, name, distribution, version}}"
    with pytest.raises(WeightsError, match=f"^{re.escape(expected)}$"):
        check_components([record] * 1001, WHERE)
    expected = f"{WHERE}: components.0: expected a mapping with kind, name, distribution, version"
    with pytest.raises(WeightsError, match=f"^{re.escape(expected)}$"):
        check_components([{"kind": "block"}], WHERE)


def test_a_component_field_with_a_control_character_is_refused_naming_the_field() -> None:
    expected = f"{WHERE}: components.0.name: 'basic\\n' holds control characters"
    with pytest.raises(WeightsError, match=f"^{re.escape(expected)}$"):
        check_components([{"kind": "block", "name": "basic\n"}], WHERE)
