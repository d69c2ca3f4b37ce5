"""Row ids are UUIDv7: valid UUIDs whose text form sorts by creation time."""

from __future__ import annotations

import time
import uuid

from gridlinks.core.storage.ids import id_time_ms, new_id


def test_new_id_is_a_version_7_rfc_uuid_with_the_time_in_it():
    before = int(time.time() * 1000)
    value = new_id()
    after = int(time.time() * 1000)
    assert isinstance(value, uuid.UUID)
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert before <= id_time_ms(value) <= after
    assert uuid.UUID(str(value)) == value


def test_ids_sort_by_time_as_numbers_and_as_text():
    ids = [new_id(now_ms=1_700_000_000_000 + step) for step in range(0, 5000, 7)]
    assert sorted(ids, key=lambda u: u.int) == ids
    assert sorted(ids, key=str) == ids


def test_ids_of_one_millisecond_differ():
    same_ms = [new_id(now_ms=1_800_000_000_000) for _ in range(10_000)]
    assert len(set(same_ms)) == len(same_ms)
    assert {id_time_ms(u) for u in same_ms} == {1_800_000_000_000}


def test_id_texts_are_version_7_in_time_order():
    import uuid as _uuid

    from gridlinks.core.storage.ids import new_id_texts

    texts = new_id_texts(500)
    parsed = [_uuid.UUID(t) for t in texts]
    assert [str(u) for u in parsed] == texts
    assert {u.version for u in parsed} == {7} and {u.variant for u in parsed} == {_uuid.RFC_4122}
    assert len(set(texts)) == 500
    assert texts[0][:13] <= new_id_texts(1)[0][:13]  # the time prefix only grows
