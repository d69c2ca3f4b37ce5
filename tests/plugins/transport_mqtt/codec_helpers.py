"""Small builders shared by the codec tests: raw frames and a decoder past its CONNECT."""

from __future__ import annotations

from gridlinks.plugins.transport_mqtt.codec import MQTT_5, Connect, Decoder, encode


def vbi(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def frame(first: int, body: bytes) -> bytes:
    """One packet: first byte, remaining length, body (the body is taken as given)."""
    return bytes((first,)) + vbi(len(body)) + body


def s(text: str | bytes) -> bytes:
    """MQTT string/binary: two-byte length then the bytes."""
    raw = text.encode() if isinstance(text, str) else text
    return len(raw).to_bytes(2, "big") + raw


def connected(version: int, max_packet_size: int = 268_435_455) -> Decoder:
    """A server-side decoder that has already decoded a CONNECT of ``version``."""
    decoder = Decoder(max_packet_size)
    (packet,) = decoder.feed(encode(Connect(version, "c1"), version))
    assert isinstance(packet, Connect) and decoder.version == version
    return decoder


def connect_body(version: int, flags: int = 0x02, props: bytes = b"\x00",
                 payload: bytes = s("c1"), name: bytes = s("MQTT")) -> bytes:
    """CONNECT variable header + payload with chosen flags (keep alive 60)."""
    body = name + bytes((version, flags)) + b"\x00\x3c"
    if version == MQTT_5:
        body += props
    return body + payload
