"""The gate in front of aiocoap's UDP receive path: datagrams aiocoap cannot parse get
the answer RFC 7252 asks for instead of silence or a traceback.

Why it is needed (aiocoap 0.4.17, ``transports/udp6.py``): ``datagram_msg_received``
drops a datagram that ``Message.decode`` refuses with ``UnparsableMessage`` after a
WARNING line, so a confirmable request with a malformed option is never answered; and
a string option (Uri-Path, Uri-Query, Uri-Host, ...) that is not UTF-8 raises
``UnicodeDecodeError``, which nothing catches: asyncio logs a traceback for the read
callback and the sender again gets nothing. A token length of 9..15 (reserved) and
codes of the reserved classes 1, 6 and 7 are passed on or ignored with a warning.

What the gate answers instead, before aiocoap sees the datagram:

- no CoAP header (under 4 bytes, version not 1): silently ignored (RFC 7252 section 3);
- a message format error (bad option encoding, token length 9..15, a reserved code
  class): RST when it is confirmable, otherwise ignored (RFC 7252 sections 3 and 4.2);
- a type and code that do not fit (an empty NON, a request code on an ACK or RST):
  ignored, where aiocoap would log a WARNING per datagram;
- a confirmable request whose option value cannot be decoded (a string option that is
  not UTF-8): 4.02 Bad Option piggy-backed on the ACK (RFC 7252 5.4.3: a bad value of a
  critical option is an unrecognised critical option); non-confirmable: ignored.

Everything else goes to aiocoap unchanged. Refusals are logged at DEBUG: junk off the
network must not be able to fill the log.
"""

from __future__ import annotations

import logging
import socket
import struct
from enum import Enum

from aiocoap import Message
from aiocoap.error import UnparsableMessage

log = logging.getLogger(__name__)

VERSION = 1
CON, NON, ACK, RST = 0, 1, 2, 3
MAX_TOKEN_LENGTH = 8
BAD_OPTION = (4 << 5) | 2
PAYLOAD_MARKER = b"\xff"


class Verdict(Enum):
    PASS = "pass"  # aiocoap takes it
    IGNORE = "ignore"  # not CoAP, or not confirmable: silence is the answer
    RESET = "reset"  # RST with the datagram's message id
    BAD_OPTION = "bad option"  # 4.02 with the datagram's message id and token


def judge(data: bytes) -> Verdict:
    """What the hub does with one datagram, by RFC 7252."""
    if len(data) < 4 or data[0] >> 6 != VERSION:
        return Verdict.IGNORE
    mtype, token_length, code = (data[0] >> 4) & 3, data[0] & 0x0F, data[1]
    confirmable = mtype == CON
    refuse = Verdict.RESET if confirmable else Verdict.IGNORE
    if token_length > MAX_TOKEN_LENGTH or len(data) < 4 + token_length:
        return refuse
    if code >> 5 in (1, 6, 7):
        return refuse
    if (code == 0 and mtype == NON) or (1 <= code <= 31 and mtype in (ACK, RST)) or (code >= 64 and mtype == RST):
        return Verdict.IGNORE  # types and codes that do not fit together; aiocoap would warn
    try:
        Message.decode(data)
    except UnparsableMessage:
        return refuse
    except Exception:  # an option value aiocoap cannot decode (UnicodeDecodeError, ValueError)
        return Verdict.BAD_OPTION if confirmable and 1 <= code <= 31 else refuse
    return Verdict.PASS


def reset(data: bytes) -> bytes:
    return struct.pack("!BBH", (VERSION << 6) | (RST << 4), 0, _mid(data))


def bad_option(data: bytes, reason: bytes = b"option value is not valid") -> bytes:
    """4.02 for the confirmable request in ``data``, piggy-backed on its ACK."""
    token = data[4:4 + (data[0] & 0x0F)]
    head = struct.pack("!BBH", (VERSION << 6) | (ACK << 4) | len(token), BAD_OPTION, _mid(data))
    return head + token + PAYLOAD_MARKER + reason


def _mid(data: bytes) -> int:
    return struct.unpack_from("!H", data, 2)[0]


class DatagramGate:
    """Wraps the ``datagram_msg_received`` of one aiocoap udp6 message interface."""

    def __init__(self, interface):
        self._interface = interface
        self._deliver = interface.datagram_msg_received
        interface.datagram_msg_received = self.received

    @classmethod
    def install(cls, context) -> list[DatagramGate]:
        """A gate on every UDP interface of an aiocoap server ``context``."""
        gates = []
        for token_manager in context.request_interfaces:
            interface = getattr(getattr(token_manager, "token_interface", None), "message_interface", None)
            if interface is not None and hasattr(interface, "datagram_msg_received"):
                gates.append(cls(interface))
        return gates

    def received(self, data: bytes, ancdata, flags, address) -> None:
        verdict = judge(data)
        if verdict is Verdict.PASS:
            self._deliver(data, ancdata, flags, address)
            return
        log.debug("CoAP datagram from %s refused (%s), %d bytes", address[0], verdict.value, len(data))
        if verdict is Verdict.RESET:
            self._send(reset(data), ancdata, address)
        elif verdict is Verdict.BAD_OPTION:
            self._send(bad_option(data), ancdata, address)

    def _send(self, reply: bytes, ancdata, address) -> None:
        """From the address the datagram came to (its IPV6_PKTINFO), as aiocoap answers."""
        pktinfo = [(level, kind, value) for level, kind, value in ancdata
                   if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO]
        transport = getattr(self._interface, "transport", None)
        if transport is not None:
            transport.sendmsg(reply, pktinfo, 0, address)
