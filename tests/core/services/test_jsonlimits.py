"""Bounded JSON decoding (issue 11, finding 2): deep nesting, NaN/Infinity and lone
surrogates are a BadRequest, never a RecursionError or a value the database refuses."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridlinks.core.errors import BadRequest
from gridlinks.core.services.device_payloads import decode_json
from gridlinks.core.services.jsonlimits import MAX_DEPTH, nesting_depth_exceeds


@pytest.mark.parametrize("raw", [
    b"[" * 100_000,
    b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),
    b"[NaN]", b'{"a": Infinity}', b"-Infinity", b'{"durationMs": 1e400}',
    b'{"\\ud800": 1}', b'["\\udfff"]', b'{"a": {"b": ["x\\udbff"]}}', '"\ud800"',
    b"\xff", b"\xed\xa0\x80", b"1" + b"0" * 5000,
])
def test_hostile_json_is_a_bad_request(raw):
    with pytest.raises(BadRequest):
        decode_json(raw)


@pytest.mark.parametrize("raw, value", [
    (b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, None),
    (b'"\\ud83d\\ude00"', "\U0001F600"),  # a surrogate pair is one character: fine
    (b'"\\\\ud800"', "\\ud800"),  # an escaped backslash, not an escape
    (b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', None),
    (b"\xef\xbb\xbf{}", {}),  # UTF-8 BOM, as json.loads accepts on bytes
    ('{"é": 1.5e3}'.encode("utf-16"), {"é": 1500.0}),
])
def test_ordinary_json_still_decodes(raw, value):
    decoded = decode_json(raw)
    if value is not None:
        assert decoded == value


def _depth(value) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(alphabet=st.characters(codec="utf-8"), max_size=5), children, max_size=3),
    max_leaves=80)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_depth_scan_agrees_with_the_structure(value):
    text = json.dumps(value, ensure_ascii=False).encode()
    assert nesting_depth_exceeds(text, 3) == (_depth(value) > 3)
    assert decode_json(text) == value


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_random_bytes_decode_or_are_a_bad_request(raw):
    try:
        value = decode_json(raw)
    except BadRequest:
        return
    # whatever passes can be stored as UTF-8 JSON
    json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
