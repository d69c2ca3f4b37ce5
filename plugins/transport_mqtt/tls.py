"""TLS for the MQTT listener on pyOpenSSL, in memory (no socket of its own), so the hub
sees the client certificate chain OpenSSL verified, on every Python.

Why not the standard ``ssl`` module: before Python 3.13 it exposes only the client's
leaf certificate, so an X509_CERTIFICATE_CHAIN profile on a root CA could not tell
which CA a leaf issued by an intermediate chains to. OpenSSL itself verifies the chain
the client sends against the trust store (``trust.py``, filled by the ``register_tls_trust``
providers) during the handshake; pyOpenSSL's ``get_verified_chain`` then hands over exactly
that chain, leaf to anchor, which the chain strategy checks again link by link.

:class:`TlsLayer` sits between the socket transport and an :class:`MqttProtocol`: it is
the socket's protocol, and the MQTT protocol's transport (the few transport methods the
MQTT protocol uses). ``ssl_object`` in ``get_extra_info`` is a :class:`PeerCertificates`.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import SSL, crypto

log = logging.getLogger(__name__)

_CHUNK = 65_536


def server_context(cert_file: Path, key_file: Path) -> SSL.Context:
    """TLS 1.2+, the server certificate, client certificates optional but verified when
    given (like ``ssl.CERT_OPTIONAL``), partial chains allowed (an intermediate may be a
    profile's anchor)."""
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
    ctx.use_certificate_chain_file(str(cert_file))
    ctx.use_privatekey_file(str(key_file))
    ctx.check_privatekey()
    ctx.set_verify(SSL.VERIFY_PEER, lambda conn, cert, errno, depth, ok: bool(ok))
    ctx.get_cert_store().set_flags(crypto.X509StoreFlags.PARTIAL_CHAIN)
    ctx.set_session_id(b"gridlinks-mqtt")
    return ctx


class PeerCertificates:
    """What ``Connection.certificates`` asks of an ``ssl_object``: the leaf (DER) and the
    chain OpenSSL verified (DER, leaf first). Read once, at the handshake."""

    __slots__ = ("leaf", "chain")

    def __init__(self, conn: SSL.Connection):
        cert = conn.get_peer_certificate(as_cryptography=True)
        self.leaf = cert.public_bytes(Encoding.DER) if cert is not None else None
        verified = conn.get_verified_chain(as_cryptography=True) if cert is not None else None
        self.chain = [c.public_bytes(Encoding.DER) for c in verified] if verified else []

    def getpeercert(self, binary_form: bool = False) -> bytes | None:
        return self.leaf

    def get_verified_chain(self) -> list[bytes]:
        return self.chain


class TlsLayer(asyncio.Protocol):
    """TLS between a socket transport and ``app`` (an asyncio.Protocol)."""

    __slots__ = ("ctx", "app", "loop", "raw", "tls", "timer", "ready", "closing", "peer_certificates")

    def __init__(self, ctx: SSL.Context, app: asyncio.Protocol, handshake_timeout_s: float):
        self.ctx = ctx
        self.app = app
        self.loop = asyncio.get_running_loop()
        self.raw: asyncio.Transport | None = None
        self.tls: SSL.Connection | None = None
        self.timer: asyncio.TimerHandle | None = self.loop.call_later(handshake_timeout_s, self._too_slow)
        self.ready = False
        self.closing = False
        self.peer_certificates: PeerCertificates | None = None

    # -- the socket's protocol -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.raw = transport  # type: ignore[assignment]
        self.tls = SSL.Connection(self.ctx, None)
        self.tls.set_accept_state()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.ready:
            self.ready = False
            self.app.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        tls = self.tls
        try:
            tls.bio_write(data)
            if not self.ready:
                try:
                    tls.do_handshake()
                except SSL.WantReadError:
                    self._send_pending()
                    return
                self._handshaken()
            received = []
            while True:
                try:
                    received.append(tls.recv(_CHUNK))
                except SSL.WantReadError:
                    break
                except SSL.ZeroReturnError:  # the client's close_notify
                    self._send_pending()
                    self.close()
                    break
        except SSL.Error as exc:
            log.debug("MQTT TLS from %s failed: %s", self._peer(), exc)
            self._send_pending()  # the alert, if any
            self._drop()
            return
        self._send_pending()
        if received and self.ready:
            self.app.data_received(b"".join(received))

    def eof_received(self) -> bool | None:
        return None

    def pause_writing(self) -> None:
        pass

    def resume_writing(self) -> None:
        pass

    def _handshaken(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.peer_certificates = PeerCertificates(self.tls)
        self.ready = True
        self.app.connection_made(self)

    def _too_slow(self) -> None:
        self.timer = None
        if not self.ready and self.raw is not None:
            log.debug("MQTT TLS handshake from %s timed out", self._peer())
            self._drop()

    def _drop(self) -> None:
        self.closing = True
        if self.raw is not None:
            self.raw.close()

    def _send_pending(self) -> None:
        tls, raw = self.tls, self.raw
        while True:
            try:
                data = tls.bio_read(_CHUNK)
            except SSL.WantReadError:
                return
            if not data:
                return
            if not raw.is_closing():
                raw.write(data)

    # -- the MQTT protocol's transport -----------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.closing or not self.ready:
            return
        try:
            self.tls.sendall(data)
        except SSL.Error as exc:
            log.debug("MQTT TLS write to %s failed: %s", self._peer(), exc)
            self._drop()
            return
        self._send_pending()

    def close(self) -> None:
        if self.closing:
            return
        self.closing = True
        try:
            self.tls.shutdown()
        except SSL.Error:
            pass
        self._send_pending()
        self.raw.close()

    def abort(self) -> None:
        self.closing = True
        self.raw.abort()

    def is_closing(self) -> bool:
        return self.closing or self.raw.is_closing()

    def pause_reading(self) -> None:
        self.raw.pause_reading()

    def resume_reading(self) -> None:
        self.raw.resume_reading()

    def get_write_buffer_size(self) -> int:
        return self.raw.get_write_buffer_size()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "ssl_object":
            return self.peer_certificates
        return self.raw.get_extra_info(name, default)

    def _peer(self) -> str:
        peer = self.raw.get_extra_info("peername") if self.raw is not None else None
        return f"{peer[0]}:{peer[1]}" if peer else "?"
