"""The TLS listener's trust store, filled from the ``register_tls_trust`` providers.

A client certificate passes the handshake only if OpenSSL verifies it up to the
context's trust store; which certificates belong there is for the plugins that own
them to say (the X.509 plugins: device certificates, chain profiles' anchors), through
:class:`gridlinks.core.types.TlsTrust`. This module only keeps OpenSSL in step:

- added certificates go into the live context's store (the next handshake trusts them);
- on a rebuild (something may no longer be trusted) a fresh context is built from what
  every provider lists now and replaces the old one for new connections, so a removed
  device certificate stops passing the handshake without a restart. Certificates added
  while a rebuild runs are added to the new context too.

Client certificates stay optional (the ``provision`` login needs none); a device
without one is refused by authentication.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from cryptography import x509
from OpenSSL import SSL, crypto

from gridlinks.core.types import TlsTrust, TrustChange

log = logging.getLogger(__name__)


class TrustedContexts:
    """The current ``SSL.Context`` for new TLS connections, trusting what the providers list."""

    def __init__(self, make_context: Callable[[], SSL.Context], providers: list[TlsTrust]):
        self._make_context = make_context  # blocking (reads the server certificate): run off the loop
        self.providers = providers
        self.context: SSL.Context | None = None
        self._known: set[bytes] = set()
        self._unsubscribe: list[Callable[[], None]] = []
        self._rebuilding: asyncio.Lock = asyncio.Lock()
        self._added_meanwhile: list[bytes] | None = None

    async def start(self) -> None:
        self._unsubscribe = [p.subscribe(self._changed) for p in self.providers]
        await self._rebuild()
        log.info("TLS: trusting %d certificates from %s", len(self._known),
                 ", ".join(p.name for p in self.providers) or "no provider")

    def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []

    async def _changed(self, change: TrustChange) -> None:
        if change.added:
            if self._added_meanwhile is not None:
                self._added_meanwhile.extend(change.added)
            if self.context is not None:
                self._add(self.context, self._known, change.added)
        if change.rebuild:
            await self._rebuild()

    async def _rebuild(self) -> None:
        async with self._rebuilding:
            self._added_meanwhile = []
            try:
                ders = [der for p in self.providers for der in await p.certificates()]
                # Building a store costs ~50 µs a certificate: off the loop (the new context is not shared yet).
                ctx, known = await asyncio.get_running_loop().run_in_executor(None, self._built, ders)
                self._add(ctx, known, self._added_meanwhile)
                self.context, self._known = ctx, known
            finally:
                self._added_meanwhile = None

    def _built(self, ders: list[bytes]) -> tuple[SSL.Context, set[bytes]]:
        ctx, known = self._make_context(), set()
        self._add(ctx, known, ders)
        return ctx, known

    @staticmethod
    def _add(ctx: SSL.Context, known: set[bytes], ders) -> None:
        fresh = [d for d in ders if d not in known]
        if not fresh:
            return
        store = ctx.get_cert_store()
        for der in fresh:
            try:
                store.add_cert(crypto.X509.from_cryptography(x509.load_der_x509_certificate(der)))
            except (ValueError, crypto.Error) as exc:  # one unparsable certificate must not stop the others
                log.warning("TLS: cannot trust a stored certificate: %s", exc)
                continue
            known.add(der)
