"""The event bus: typed facts that happened (see ``core/events.py``).

Listeners are how the audit log, the dashboard's live feed and transports that push to
devices learn of things without the service that caused them knowing they exist.

Two kinds of listener, because a device's answer must not wait for someone watching:
- blocking (the default): ``fire`` awaits it, so callers can rely on, say, the audit
  row existing or a deleted device's sessions being closed once the request is answered;
- observers (``blocking=False``): run after ``fire`` returns, as tracked background
  work. Each observer sees one device's events in the order they were fired (a push of
  ``{"a": 1}`` then ``{"a": 2}`` never arrives reversed), while a slow device does not
  hold up the others.
A failing listener is logged in one line and the others still run.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from gridlinks.core.events import Event

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
Listener = Callable[[E], Awaitable[None] | None]


class _Subscription:
    __slots__ = ("listener", "blocking")

    def __init__(self, listener: Callable[[Any], Awaitable[None] | None], blocking: bool):
        self.listener = listener
        self.blocking = blocking


class EventBus:
    def __init__(self) -> None:
        self._listeners: dict[type[Event], list[_Subscription]] = defaultdict(list)
        self._tasks: set[asyncio.Task] = set()
        # The last pending run of an observer for a device: the next one waits for it.
        self._tails: dict[tuple[int, Any], asyncio.Task] = {}

    def listen(self, event_type: type[E], listener: Listener[E], *, blocking: bool = True) -> Callable[[], None]:
        """Call ``listener(event)`` for every event of this class or a subclass of it
        (``Event``: all). ``blocking=False`` for observers that must not hold up the
        caller of ``fire``. Returns the callable that unsubscribes it."""
        subscription = _Subscription(listener, blocking)
        self._listeners[event_type].append(subscription)

        def unsubscribe() -> None:
            try:
                self._listeners[event_type].remove(subscription)
            except ValueError:
                pass

        return unsubscribe

    def listening(self, event_type: type[Event]) -> int:
        """How many listeners are registered on exactly this class (for tests and stats)."""
        return len(self._listeners.get(event_type, ()))

    async def fire(self, event: Event) -> Event:
        """Run the blocking listeners of ``event`` (most specific class first), schedule
        its observers, and return the event once every blocking listener is done."""
        pending = []
        for cls in type(event).__mro__:
            if not issubclass(cls, Event):
                break
            for subscription in self._listeners.get(cls, ()):
                if not subscription.blocking:
                    asyncio.get_running_loop().call_soon(self._observe, subscription, event)
                    continue
                try:
                    result = subscription.listener(event)
                except Exception as exc:
                    _failed(subscription, event, exc)
                    continue
                if inspect.isawaitable(result):
                    pending.append((subscription, result))
        # Awaited one after another rather than gathered: listeners are short, and
        # gather's task per listener cost more than the listeners on the hot paths.
        for subscription, awaitable in pending:
            try:
                await awaitable
            except Exception as exc:
                _failed(subscription, event, exc)
        return event

    def _observe(self, subscription: _Subscription, event: Event) -> None:
        """Start an observer on ``event``, after its previous run for the same device."""
        try:
            result = subscription.listener(event)
        except Exception as exc:
            _failed(subscription, event, exc)
            return
        if not inspect.isawaitable(result):
            return
        key = (id(subscription), getattr(event, "device_id", None))
        previous = self._tails.get(key)
        task = asyncio.get_running_loop().create_task(self._finish(subscription, event, previous, result))
        self._tasks.add(task)
        self._tails[key] = task

        def done(t: asyncio.Task) -> None:
            self._tasks.discard(t)
            if self._tails.get(key) is t:
                del self._tails[key]

        task.add_done_callback(done)

    @staticmethod
    async def _finish(subscription: _Subscription, event: Event, previous: asyncio.Task | None,
                      work: Awaitable[None]) -> None:
        try:
            if previous is not None:
                await asyncio.wait([previous])
            await work
        except asyncio.CancelledError:
            if inspect.iscoroutine(work):
                work.close()
            raise
        except Exception as exc:
            _failed(subscription, event, exc)

    async def drain(self) -> None:
        """Wait until every observer scheduled so far has finished (tests; orderly stop)."""
        await asyncio.sleep(0)  # observers scheduled with call_soon start now
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    async def stop(self) -> None:
        """Cancel observers still running (the hub is stopping: nobody is left to push to)."""
        await asyncio.sleep(0)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


def _failed(subscription: _Subscription, event: Event, exc: Exception) -> None:
    listener = getattr(subscription.listener, "__qualname__", repr(subscription.listener))
    log.error("event listener %s failed on %s: %r", listener, event.name, exc)
