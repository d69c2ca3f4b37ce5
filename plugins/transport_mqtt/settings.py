"""The ``mqtt:`` config section."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from gridlinks.core.config import Settings, env_field


class MqttSettings(Settings):
    port: int = env_field(1883, "GRIDLINKS_MQTT_PORT")
    # The historic name devices' installers know: MQTTS_PORT.
    tls_port: int = env_field(8883, "GRIDLINKS_MQTTS_PORT")
    cert_file: Path | None = Field(None, description="server certificate (PEM); null: data_dir/tls/server.pem, "
                                                      "generated on first start")
    key_file: Path | None = Field(None, description="its private key (PEM); null: data_dir/tls/server.key")
    provision_close_delay_s: float = Field(5.0, ge=0)
    max_pending_messages: int = Field(100, ge=1)
    tls_handshake_timeout_s: float = Field(10.0, gt=0)
    connect_timeout_s: float = Field(10.0, gt=0)
