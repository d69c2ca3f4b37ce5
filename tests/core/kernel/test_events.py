"""The typed event bus: every event is a declared frozen dataclass; listeners key on the
class; observers (``blocking=False``) never hold up ``fire`` and see each device's
events in order; a failing listener costs one log line, not the others' turn."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import sys

import pytest

from gridlinks.core import events
from gridlinks.core.bus import EventBus
from gridlinks.core.events import AttributesUpdated, DeviceDeleted, Event, Outcome
from gridlinks.plugins.dynamic_registration import events as dynreg_events


def _all_event_classes() -> list[type[Event]]:
    """Every declared event class. ``slots=True`` makes dataclass build a new class, so
    the one it replaced may linger in ``__subclasses__()``: only module-level ones count."""
    found, todo = [], [Event]
    while todo:
        cls = todo.pop()
        if getattr(sys.modules[cls.__module__], cls.__qualname__, None) is cls:
            found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def _concrete() -> list[type[Event]]:
    return [cls for cls in _all_event_classes() if cls not in (Event, Outcome)]


def test_every_module_event_is_found():
    declared = {obj for mod in (events, dynreg_events) for obj in vars(mod).values()
                if inspect.isclass(obj) and issubclass(obj, Event) and obj.__module__ == mod.__name__}
    assert declared <= set(_all_event_classes())
    assert len(_concrete()) >= 25


@pytest.mark.parametrize("cls", _all_event_classes(), ids=lambda c: c.__name__)
def test_every_event_class_is_a_frozen_slotted_dataclass_with_a_docstring(cls):
    assert dataclasses.is_dataclass(cls)
    params = cls.__dataclass_params__
    assert params.frozen
    assert "__slots__" in cls.__dict__
    doc = cls.__dict__.get("__doc__") or ""
    assert doc.strip() and "\n" not in doc.strip(), "one line saying when it fires"


def test_event_names_are_unique_and_declared():
    names = [cls.name for cls in _concrete()]
    assert "event" not in names
    assert len(names) == len(set(names))


def test_events_cannot_be_changed_after_firing():
    event = DeviceDeleted(device_id="d1", device_name="one")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.device_id = "d2"  # type: ignore[misc]


def test_data_leaves_out_optional_fields_not_given():
    event = events.DeviceClaimed(outcome="FAILURE", tenant_id=None, device_name="d", actor="a@b", transport="REST",
                                 reason="wrong secret key")
    assert event.data() == {"outcome": "FAILURE", "tenant_id": None, "device_name": "d", "actor": "a@b",
                            "transport": "REST", "reason": "wrong secret key"}


async def test_fire_and_listen_round_trip_by_class():
    bus = EventBus()
    deleted, everything, attributes = [], [], []
    unsubscribe = bus.listen(DeviceDeleted, deleted.append)
    bus.listen(Event, everything.append)
    bus.listen(AttributesUpdated, attributes.append)

    event = DeviceDeleted(device_id="d1", device_name="one")
    assert await bus.fire(event) is event
    assert deleted == [event] and everything == [event] and attributes == []
    assert deleted[0].device_name == "one"

    unsubscribe()
    unsubscribe()  # twice is harmless
    await bus.fire(DeviceDeleted(device_id="d2", device_name="two"))
    assert len(deleted) == 1 and len(everything) == 2


async def test_an_async_blocking_listener_has_finished_when_fire_returns():
    bus = EventBus()
    seen = []

    async def listener(event: DeviceDeleted) -> None:
        await asyncio.sleep(0)
        seen.append(event.device_id)

    bus.listen(DeviceDeleted, listener)
    await bus.fire(DeviceDeleted(device_id="d1", device_name="one"))
    assert seen == ["d1"]


async def test_a_sleeping_observer_does_not_hold_up_fire():
    bus = EventBus()
    release = asyncio.Event()
    started, finished = asyncio.Event(), []

    async def observer(event: AttributesUpdated) -> None:
        started.set()
        await release.wait()
        finished.append(event.values)

    bus.listen(AttributesUpdated, observer, blocking=False)
    await asyncio.wait_for(bus.fire(AttributesUpdated(device_id="d1", scope="SHARED_SCOPE", values={"a": 1})), 10)
    assert finished == []  # fire returned while the observer still sleeps
    await asyncio.wait_for(started.wait(), 10)
    release.set()
    await asyncio.wait_for(bus.drain(), 10)
    assert finished == [{"a": 1}]


async def test_observers_see_each_devices_events_in_order_and_a_stuck_device_holds_up_no_other():
    bus = EventBus()
    stuck = asyncio.Event()
    seen: dict[str, list[int]] = {"fast": [], "slow": []}

    async def observer(event: AttributesUpdated) -> None:
        n = event.values["n"]
        if event.device_id == "slow" and n == 0:
            await stuck.wait()
        for _ in range(n % 3):  # uneven work: later events would overtake earlier ones if run freely
            await asyncio.sleep(0)
        seen[event.device_id].append(n)

    bus.listen(AttributesUpdated, observer, blocking=False)
    for n in range(20):
        for device in ("slow", "fast"):
            await bus.fire(AttributesUpdated(device_id=device, scope="SHARED_SCOPE", values={"n": n}))
    for _ in range(200):
        if len(seen["fast"]) == 20:
            break
        await asyncio.sleep(0)
    assert seen["fast"] == list(range(20))
    assert seen["slow"] == []  # waiting behind its first, stuck event
    stuck.set()
    await asyncio.wait_for(bus.drain(), 10)
    assert seen["slow"] == list(range(20))


async def test_a_failing_listener_does_not_stop_the_others_and_logs_one_line(caplog):
    bus = EventBus()
    seen = []

    def fails_now(event: Event) -> None:
        raise RuntimeError("sync boom")

    async def fails_later(event: Event) -> None:
        raise ValueError("async boom")

    async def observer_fails(event: Event) -> None:
        raise KeyError("observer boom")

    bus.listen(DeviceDeleted, fails_now)
    bus.listen(DeviceDeleted, fails_later)
    bus.listen(DeviceDeleted, observer_fails, blocking=False)
    bus.listen(DeviceDeleted, seen.append)
    bus.listen(DeviceDeleted, lambda e: seen.append(("observer", e.device_id)), blocking=False)
    with caplog.at_level(logging.ERROR, logger="gridlinks.core.bus"):
        await bus.fire(DeviceDeleted(device_id="d1", device_name="one"))
        await asyncio.wait_for(bus.drain(), 10)
    assert len([e for e in seen if isinstance(e, DeviceDeleted)]) == 1 and ("observer", "d1") in seen
    records = [r for r in caplog.records if r.name == "gridlinks.core.bus"]
    assert len(records) == 3
    for record in records:
        assert record.exc_info is None and record.exc_text is None
        assert "\n" not in record.getMessage() and "device_deleted" in record.getMessage()
    text = " ".join(r.getMessage() for r in records)
    assert "sync boom" in text and "async boom" in text and "observer boom" in text


async def test_stop_cancels_observers_still_running():
    bus = EventBus()
    never = asyncio.Event()
    cancelled = []

    async def observer(event: Event) -> None:
        try:
            await never.wait()
        except asyncio.CancelledError:
            cancelled.append(event)
            raise

    bus.listen(DeviceDeleted, observer, blocking=False)
    await bus.fire(DeviceDeleted(device_id="d1", device_name="one"))
    await bus.fire(DeviceDeleted(device_id="d1", device_name="one"))  # queued behind the first
    await asyncio.wait_for(bus.stop(), 10)
    assert len(cancelled) == 1
    await asyncio.wait_for(bus.drain(), 10)
