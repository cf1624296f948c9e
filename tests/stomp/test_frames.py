"""The STOMP 1.2 codec: framing, escaping, content-length, split and joined reads, heart-beats, limits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vurti.stomp.frames import MAX_HEADER_BYTES, Frame, FrameError, FrameParser, encode, escape, unescape

LIMIT = 1 << 20


def parse(data: bytes, limit: int = LIMIT) -> list[Frame]:
    return FrameParser(limit).feed(data)


def one(data: bytes) -> Frame:
    frames = parse(data)
    assert len(frames) == 1, frames
    return frames[0]


# -- encoding and the round trip ---------------------------------------------------------


def test_encode_layout_with_content_length_last() -> None:
    assert encode("SEND", {"destination": "q", "reply-to": "r"}, b"{}") == (
        b"SEND\ndestination:q\nreply-to:r\ncontent-length:2\n\n{}\0")
    assert encode("CONNECT", {"accept-version": "1.2"}) == b"CONNECT\naccept-version:1.2\n\n\0"
    assert encode("DISCONNECT") == b"DISCONNECT\n\n\0"


def test_a_given_content_length_is_replaced_by_the_true_one() -> None:
    assert encode("SEND", {"content-length": "99"}, b"abc") == b"SEND\ncontent-length:3\n\nabc\0"


def test_round_trip() -> None:
    frame = one(encode("MESSAGE", {"destination": "jms.queue.events", "subscription": "s-1"}, b'{"a": 1}'))
    assert frame.command == "MESSAGE"
    assert frame.headers == {"destination": "jms.queue.events", "subscription": "s-1", "content-length": "8"}
    assert frame.body == b'{"a": 1}'


# -- escaping ------------------------------------------------------------------------------


def test_escaping_both_ways() -> None:
    value = "a:b\\c\nd\re"
    assert escape(value) == "a\\cb\\\\c\\nd\\re"
    assert unescape(escape(value)) == value
    wire = encode("SEND", {"na:me": value})
    assert b"na\\cme:a\\cb\\\\c\\nd\\re\n" in wire
    assert one(wire).headers == {"na:me": value}


@pytest.mark.parametrize("line", [b"h:bad\\tescape", b"h:trailing\\", b"h:\\C", b"h\\x:v"])
def test_bad_escape_is_refused(line: bytes) -> None:
    with pytest.raises(FrameError, match="bad escape"):
        parse(b"SEND\n" + line + b"\n\n\0")


def test_raw_colon_in_a_value_is_refused() -> None:
    with pytest.raises(FrameError, match="raw ':'"):
        parse(b"SEND\ndestination:jms:queue\n\n\0")


def test_header_line_without_colon_is_refused() -> None:
    with pytest.raises(FrameError, match="without ':'"):
        parse(b"SEND\ndestination\n\n\0")


def test_first_repeated_header_wins() -> None:
    assert one(b"MESSAGE\nfoo:first\nfoo:second\n\n\0").headers == {"foo": "first"}


# -- content-length ------------------------------------------------------------------------


def test_content_length_frames_a_body_with_nul_inside() -> None:
    body = b"a\0b\0\0c"
    frames = parse(encode("SEND", {"destination": "q"}, body) + encode("SEND", {}, b"next"))
    assert [f.body for f in frames] == [body, b"next"]


def test_without_content_length_the_body_ends_at_the_first_nul() -> None:
    assert [f.body for f in parse(b"SEND\n\nabc\0SEND\n\ndef\0")] == [b"abc", b"def"]


def test_missing_nul_after_content_length_is_refused() -> None:
    with pytest.raises(FrameError, match="no NUL"):
        parse(b"SEND\ncontent-length:3\n\nabcd\0")


@pytest.mark.parametrize("value", ["abc", "-1", "", "1.5", "\u00b2", "\u0661\u0662", " 3"])
def test_content_length_must_be_ascii_digits(value: str) -> None:
    with pytest.raises(FrameError, match="not a number"):
        parse(f"SEND\ncontent-length:{value}\n\nabc\0".encode())


# -- reads: split, joined ------------------------------------------------------------------

STREAM = (
    b"\n"
    + encode("CONNECTED", {"version": "1.2", "heart-beat": "15000,0"})
    + b"\r\n"
    + encode("MESSAGE", {"destination": "r", "subscription": "1"}, b'{"id":"x","result":"a\\u0000\0b"}')
    + b"MESSAGE\r\ndestination:e\r\n\r\nno length\0"
    + b"\n\n"
    + encode("RECEIPT", {"receipt-id": "77"})
)


def _expected() -> list[tuple[str, dict[str, str], bytes]]:
    return [(f.command, f.headers, f.body) for f in parse(STREAM)]


def test_several_frames_in_one_read() -> None:
    parser = FrameParser(LIMIT)
    frames = parser.feed(STREAM)
    assert [f.command for f in frames] == ["CONNECTED", "MESSAGE", "MESSAGE", "RECEIPT"]
    assert frames[1].body == b'{"id":"x","result":"a\\u0000\0b"}'
    assert frames[2].headers == {"destination": "e"} and frames[2].body == b"no length"
    assert parser.heartbeats == 4 and parser.buffered == 0


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_frames_split_at_every_byte_boundary(cut: int) -> None:
    parser = FrameParser(LIMIT)
    frames = parser.feed(STREAM[:cut]) + parser.feed(STREAM[cut:])
    assert [(f.command, f.headers, f.body) for f in frames] == _expected()
    assert parser.heartbeats == 4


def test_frames_fed_one_byte_at_a_time() -> None:
    parser = FrameParser(LIMIT)
    frames = [f for i in range(len(STREAM)) for f in parser.feed(STREAM[i:i + 1])]
    assert [(f.command, f.headers, f.body) for f in frames] == _expected()


# -- heart-beats and line ends -------------------------------------------------------------


def test_lf_and_crlf_heartbeats_are_counted() -> None:
    parser = FrameParser(LIMIT)
    assert parser.feed(b"\n\r\n\n") == []
    assert parser.heartbeats == 3
    assert parser.feed(b"\r\n") == [] and parser.heartbeats == 4
    assert parser.buffered == 0


def test_crlf_line_ends() -> None:
    frame = one(b"SEND\r\ndestination:q\r\nreply-to:r\r\ncontent-length:5\r\n\r\nhello\0")
    assert frame.command == "SEND"
    assert frame.headers == {"destination": "q", "reply-to": "r", "content-length": "5"}
    assert frame.body == b"hello"


def test_crlf_head_with_blank_lines_in_the_body() -> None:
    frame = one(b"SEND\r\ndestination:q\r\n\r\nbody\n\nstill body\0")
    assert frame.headers == {"destination": "q"} and frame.body == b"body\n\nstill body"


# -- limits --------------------------------------------------------------------------------


def test_over_limit_content_length_is_refused_before_the_body_arrives() -> None:
    parser = FrameParser(1000)
    with pytest.raises(FrameError, match="over the limit"):
        parser.feed(b"SEND\ncontent-length:1001\n\n")
    assert FrameParser(1000).feed(b"SEND\ncontent-length:1000\n\n" + b"x" * 1000 + b"\0")[0].body == b"x" * 1000


def test_over_limit_body_without_content_length_is_refused_while_it_grows() -> None:
    parser = FrameParser(1000)
    parser.feed(b"SEND\n\n" + b"x" * 1000)
    with pytest.raises(FrameError, match="without NUL"):
        parser.feed(b"x")


def test_endless_headers_are_refused() -> None:
    parser = FrameParser(LIMIT)
    parser.feed(b"SEND\n")
    with pytest.raises(FrameError, match="no end of headers"):
        for _ in range(MAX_HEADER_BYTES // 1000 + 1):
            parser.feed(b"h:" + b"v" * 997 + b"\n")


def test_head_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(FrameError, match="UTF-8"):
        parse(b"SEND\nh:\xff\n\n\0")


# -- property ------------------------------------------------------------------------------

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
names = texts.filter(lambda s: s != "content-length" and s != "")


@settings(max_examples=300, deadline=None)
@given(command=st.sampled_from(["SEND", "MESSAGE", "SUBSCRIBE", "ERROR", "X-ANY"]),
       headers=st.dictionaries(names, texts, max_size=6), body=st.binary(max_size=300),
       cut=st.integers(min_value=0, max_value=2000))
def test_round_trip_of_arbitrary_headers_and_bodies(command: str, headers: dict[str, str], body: bytes,
                                                    cut: int) -> None:
    wire = encode(command, headers, body) + b"\n" + encode("RECEIPT", {"receipt-id": "end"})
    parser = FrameParser(LIMIT)
    cut = min(cut, len(wire))
    frames = parser.feed(wire[:cut]) + parser.feed(wire[cut:])
    assert [f.command for f in frames] == [command, "RECEIPT"]
    expected = dict(headers)
    if body:
        expected["content-length"] = str(len(body))
    assert frames[0].headers == expected
    assert frames[0].body == body
    assert parser.heartbeats == 1
