from tests.plugins.x509.conftest import hub  # noqa: F401  (a started hub with its MQTT TLS port noted)
