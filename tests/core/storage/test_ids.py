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
