"""The ``mqtt:`` config section (docs/mqtt.md explains each limit)."""

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
    # Packets of one session read but not yet handled; more pauses reading the socket.
    max_pending_messages: int = Field(100, ge=1)
    tls_handshake_timeout_s: float = Field(10.0, gt=0)
    connect_timeout_s: float = Field(10.0, gt=0)
    # Largest packet accepted, checked from the fixed header before the body is read.
    max_packet_size: int = Field(262_144, ge=1024, le=268_435_455)
    # Sessions held at once; a CONNECT beyond it is refused (0x97 / 3.1.1 rc 3).
    max_connections: int = Field(100_000, ge=1)
    # QoS 1/2 publishes of one session in flight (received, not yet acknowledged).
    receive_maximum: int = Field(100, ge=1, le=65_535)
    # Longest keep-alive granted; a client asking more, or 0 (none), is held to this.
    max_keep_alive_s: int = Field(3600, ge=1, le=65_535)
    topic_alias_maximum: int = Field(16, ge=0, le=65_535)
    # Bytes of one session's packets read but not yet handled (and bytes waiting to
    # be written to it) before reading pauses (writing: the session is closed).
    read_buffer_bytes: int = Field(1_048_576, ge=65_536)
