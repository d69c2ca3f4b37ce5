"""Collecting what the hub logs during a CoAP test, to tell a quiet answer from one that
logged a traceback."""

from __future__ import annotations

import logging


class LogRecords(logging.Handler):
    """Every record the hub logs while a test runs (caplog does not see aiocoap's
    non-propagating loggers in every configuration; a root handler does)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @property
    def tracebacks(self) -> list[logging.LogRecord]:
        return [r for r in self.records if r.exc_info or r.levelno >= logging.ERROR]

    def at_least(self, level: int) -> list[logging.LogRecord]:
        return [r for r in self.records if r.levelno >= level]
