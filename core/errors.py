"""One exception hierarchy for the whole hub.

Services raise these; each transport maps them to its protocol's codes in exactly one
place (HTTP status, MQTT reply or disconnect, CoAP response code). Messages are safe to
show to the caller: they never contain secrets.
"""


class HubError(Exception):
    """Base of every error the hub raises on purpose."""


class ConfigError(HubError):
    """Configuration is invalid: an unknown key, a bad value, a duplicate plugin name."""


class StartupError(HubError):
    """The hub cannot start (a port in use, an unreachable database)."""


class BadRequest(HubError):
    """The caller sent something malformed (bad JSON, a missing field, a wrong type)."""


class PayloadTooLarge(BadRequest):
    """The payload is over the configured size limit."""


class Unauthorized(HubError):
    """No or unknown credentials."""


class TokenExpired(Unauthorized):
    """A genuine token that is no longer accepted: expired, signed out or revoked (the
    reference answers these with errorCode 11, which tells its clients to refresh or log in)."""


class Forbidden(HubError):
    """Authenticated, but not allowed to do this."""


class NotFound(HubError):
    """The addressed thing does not exist."""


class Conflict(HubError):
    """A uniqueness rule would be broken (duplicate name, key, token)."""


class TooManyAttempts(HubError):
    """The caller or target is locked out after repeated failures."""

    def __init__(self, message: str, retry_after_s: float = 0.0):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ServiceUnavailable(HubError):
    """A service the hub depends on (Redis, the database) cannot be reached right now;
    the caller may retry (HTTP 503, CoAP 5.03)."""
