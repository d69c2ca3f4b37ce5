"""The server certificate now lives in the core (:mod:`gridlinks.core.tls`), shared by
MQTT over TLS and HTTPS; this name stays for code that imported it from here."""

from gridlinks.core.tls import VALID_DAYS, ensure_server_certificate, host_names

__all__ = ["VALID_DAYS", "ensure_server_certificate", "host_names"]
