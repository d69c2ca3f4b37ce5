"""Hypothesis fuzzing of the decoder: random bytes and mutated valid streams, fed in random
chunk splits, give packets or MalformedPacket and nothing else, and the buffer never holds
more than one packet's worth (bounded examples, deadlines off, well under a minute)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridlinks.plugins.transport_mqtt.codec import MQTT_5, MQTT_311, Connect, Decoder, MalformedPacket, Publish, encode

from .test_codec_roundtrip import client_packets

LIMIT = 4096  # small maximum packet size, so "bounded buffering" is checked against it
FUZZ = settings(max_examples=300, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def valid_stream(version: int) -> bytes:
    packets = [p for p in client_packets(version) if len(encode(p, version)) <= LIMIT]
    return encode(Connect(version, "fuzz"), version) + b"".join(
        encode(p, version) for p in packets)


# Type and flags of every packet a client may send, so most examples reach a parser.
VALID_FIRST_BYTES = [0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x3A, 0x3B, 0x3C, 0x3D, 0x40, 0x50,
                     0x62, 0x70, 0x82, 0xA2, 0xC0, 0xE0, 0xF0]

STREAMS = {version: valid_stream(version) for version in (MQTT_311, MQTT_5)}


def feed_in_chunks(decoder: Decoder, data: bytes, cuts: list[int]) -> list:
    """Feed ``data`` split at ``cuts``; returns the packets, stops at the first error."""
    out = []
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    try:
        for start, stop in zip(points, points[1:]):
            out += decoder.feed(data[start:stop])
            assert decoder.buffered <= LIMIT
    except MalformedPacket:
        assert decoder.buffered == 0
    return out


@FUZZ
@given(data=st.binary(max_size=2000), cuts=st.lists(st.integers(0, 2000), max_size=20))
def test_random_bytes_from_scratch(data, cuts):
    feed_in_chunks(Decoder(LIMIT), data, cuts)


@FUZZ
@given(version=st.sampled_from([MQTT_311, MQTT_5]), data=st.binary(max_size=2000),
       cuts=st.lists(st.integers(0, 2000), max_size=20))
def test_random_bytes_after_a_valid_connect(version, data, cuts):
    stream = encode(Connect(version, "c"), version) + data
    feed_in_chunks(Decoder(LIMIT), stream, cuts)


@settings(FUZZ, max_examples=1000)
@given(version=st.sampled_from([MQTT_311, MQTT_5]),
       first=st.one_of(st.sampled_from(VALID_FIRST_BYTES), st.integers(0, 255)),
       body=st.binary(max_size=300),
       cuts=st.lists(st.integers(0, 400), max_size=10))
def test_random_packet_with_a_consistent_length(version, first, body, cuts):
    """Correct framing, random contents: exercises the per-type parsers, not only framing."""
    header = bytes((first, len(body))) if len(body) < 128 else bytes(
        (first, 0x80 | (len(body) & 0x7F), len(body) >> 7))
    stream = encode(Connect(version, "c"), version) + header + body
    feed_in_chunks(Decoder(LIMIT), stream, cuts)


mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(0, 7)),
    st.tuples(st.just("set"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 8)),
)


def mutate(stream: bytes, mutations) -> bytes:
    data = bytearray(stream)
    for kind, where, value in mutations:
        if not data:
            break
        at = where % len(data)
        if kind == "flip":
            data[at] ^= 1 << value
        elif kind == "set":
            data[at] = value
        elif kind == "insert":
            data.insert(at, value)
        else:
            del data[at:at + value]
    return bytes(data)


@FUZZ
@given(version=st.sampled_from([MQTT_311, MQTT_5]),
       mutations=st.lists(mutation, min_size=1, max_size=6),
       cuts=st.lists(st.integers(0, 10**5), max_size=20))
def test_mutated_valid_streams(version, mutations, cuts):
    data = mutate(STREAMS[version], mutations)
    for packet in feed_in_chunks(Decoder(LIMIT), data, cuts):
        # whatever decodes re-encodes: decoded packets are well-formed values
        encode(packet, version)


def packet_ends(version: int) -> list[int]:
    """Offset just past each packet of STREAMS[version]."""
    ends, offset = [], 0
    for packet in [Connect(version, "fuzz")] + [
            p for p in client_packets(version) if len(encode(p, version)) <= LIMIT]:
        offset += len(encode(packet, version))
        ends.append(offset)
    return ends


@settings(max_examples=200, deadline=None, derandomize=True)
@given(version=st.sampled_from([MQTT_311, MQTT_5]),
       cuts=st.lists(st.integers(0, 10**5), max_size=40))
def test_valid_stream_decodes_the_same_however_it_is_split(version, cuts):
    """Same packets as one feed, and each packet comes out of the very feed that completes it
    (none held back waiting for bytes it does not need)."""
    stream = STREAMS[version]
    whole = Decoder(LIMIT).feed(stream)
    ends = packet_ends(version)
    decoder = Decoder(LIMIT)
    out = []
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    for start, stop in zip(points, points[1:]):
        out += decoder.feed(stream[start:stop])
        assert len(out) == sum(1 for end in ends if end <= stop)
    assert out == whole


@settings(max_examples=200, deadline=None, derandomize=True)
@given(version=st.sampled_from([MQTT_311, MQTT_5]),
       topic=st.text(st.characters(blacklist_categories=("Cs",),
                                   blacklist_characters="\x00+#"), min_size=1, max_size=50),
       payload=st.binary(max_size=200), qos=st.integers(0, 2), retain=st.booleans(),
       packet_id=st.integers(1, 65535))
def test_any_valid_publish_round_trips(version, topic, payload, qos, retain, packet_id):
    packet = Publish(topic, payload, qos, retain, False, packet_id if qos else None)
    decoder = Decoder()
    decoder.feed(encode(Connect(version, "c"), version))
    assert decoder.feed(encode(packet, version)) == [packet]
