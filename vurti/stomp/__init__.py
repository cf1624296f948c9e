"""STOMP 1.2 as VDSM speaks it: one small codec shared by vurti's agent client and its simulator.

VDSM's dialect is strict where general STOMP libraries are loose (headers always
escaped, a raw ':' in a value closes the connection, content-length framing,
heart-beats as bare LFs), and no library implements a server; so the codec is
ours, and `stomp.py` is used in the tests as an independent peer.
"""

from vurti.stomp.frames import Frame, FrameError, FrameParser, encode, escape, unescape

__all__ = ["Frame", "FrameError", "FrameParser", "encode", "escape", "unescape"]
