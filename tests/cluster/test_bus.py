"""The bus message format: pure encoding, no Redis."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codeinterview.cluster.bus import (
    EVERYONE,
    BadFrame,
    BusFrame,
    Kind,
    decode_message,
    encode_frame,
    encode_message,
    is_from,
)

ORIGIN = bytes(range(16))
OTHER = bytes(range(1, 17))


def message_of(*frames: BusFrame) -> bytes:
    return encode_message(ORIGIN, [encode_frame(frame) for frame in frames])


frames = st.builds(
    BusFrame,
    kind=st.sampled_from(Kind),
    origin=st.just(ORIGIN),
    target=st.sampled_from([EVERYONE, OTHER]),
    session_id=st.text(alphabet="0123456789abcdef", min_size=8, max_size=8),
    payload=st.binary(max_size=300),
)


@given(st.lists(frames, max_size=20))
def test_a_message_carries_its_frames_in_order(published: list[BusFrame]) -> None:
    assert decode_message(message_of(*published)) == published


def test_the_origin_is_read_without_decoding() -> None:
    message = message_of(BusFrame(Kind.END, ORIGIN, EVERYONE, "abcdef01", b""))
    assert is_from(message, ORIGIN)
    assert not is_from(message, OTHER)
    assert not is_from(b"", ORIGIN)


@pytest.mark.parametrize(
    "damage",
    [
        lambda message: message[:5],  # inside the message header
        lambda message: message[:-1],  # inside the last payload
        lambda message: message[:20],  # inside a frame header
        lambda message: b"\x01" + message[1:],  # a version-1 node's frame
        lambda message: message[:17] + b"\x09" + message[18:],  # an unknown kind
    ],
)
def test_a_damaged_message_is_rejected_whole(damage: Callable[[bytes], bytes]) -> None:
    message = message_of(
        BusFrame(Kind.YJS, ORIGIN, EVERYONE, "abcdef01", b"first"),
        BusFrame(Kind.YJS, ORIGIN, OTHER, "abcdef01", b"second"),
    )
    with pytest.raises(BadFrame):
        decode_message(damage(message))
