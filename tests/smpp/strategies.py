"""Hypothesis strategies the smpp tests share."""

from __future__ import annotations

from hypothesis import strategies as st


@st.composite
def mutated(draw: st.DrawFn, frame: bytes, most: int = 3) -> bytes:
    """``frame`` with a few octets flipped, cut or inserted after the header (its length kept right)."""
    data = bytearray(frame)
    for _ in range(draw(st.integers(1, most))):
        if len(data) <= 16:
            break
        pos = draw(st.integers(16, len(data) - 1))
        op = draw(st.sampled_from(["flip", "cut", "insert"]))
        if op == "flip":
            data[pos] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[pos]
        else:
            data.insert(pos, draw(st.integers(0, 255)))
    data[0:4] = len(data).to_bytes(4, "big")
    return bytes(data)
