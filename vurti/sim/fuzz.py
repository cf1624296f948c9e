"""The `fuzz` fault: each reply bent at random (seeded) into a wrong but plausible one, or garbage.

What a confused or hostile agent could send: bytes that are not JSON, JSON that is
not a JSON-RPC reply, and real replies with values swapped for other types, extreme
numbers, unknown strings, keys dropped, nesting where a scalar belongs. The request
id is mostly kept, so the mangled reply reaches the call that asked for it.
"""

from __future__ import annotations

import json
import random
from typing import Any

import orjson

ODD_VALUES: tuple[Any, ...] = (
    None, True, 0, -1, 2**63, -(2**70), 1e308, "", "NaN", "inf", "-1", "abc", "Hibernating", "\u0000\ud7ff",
    [], {}, [None], {"": None}, [[[[[]]]]], "x" * 5000, 3.5,
)


def fuzzed(reply: bytes, rng: random.Random) -> bytes:
    pick = rng.random()
    if pick < 0.1:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
    if pick < 0.2:
        return reply[: rng.randint(0, max(0, len(reply) - 1))]
    obj = orjson.loads(reply)
    if pick < 0.3:
        kept = obj.get("id") if isinstance(obj, dict) else None
        return _dumps(rng.choice([{"jsonrpc": "2.0", "id": kept, "result": _odd(rng)},
                                        {"jsonrpc": "2.0", "id": kept, "error": _odd(rng)},
                                        {"id": kept}, _odd(rng)]))
    for _ in range(rng.randint(1, 4)):
        obj = _mutate(obj, rng)
    return _dumps(obj)


def _dumps(obj: Any) -> bytes:
    """json, not orjson: integers beyond 64 bits go out as they are."""
    return json.dumps(obj).encode()


def _odd(rng: random.Random) -> Any:
    return rng.choice(ODD_VALUES)


def _mutate(node: Any, rng: random.Random, depth: int = 0) -> Any:
    """Replace, drop or descend into one member of `node`, at a random depth."""
    if isinstance(node, dict) and node and depth < 6:
        key = rng.choice(sorted(node, key=str))
        if key == "id" and depth == 0:
            key = "result" if "result" in node else key
        node = dict(node)
        r = rng.random()
        if r < 0.2 and not (key == "id" and depth == 0):
            del node[key]
        elif r < 0.5:
            node[key] = _odd(rng)
        else:
            node[key] = _mutate(node[key], rng, depth + 1)
        return node
    if isinstance(node, list) and node and depth < 6:
        node = list(node)
        i = rng.randrange(len(node))
        r = rng.random()
        if r < 0.2:
            node.pop(i)
        elif r < 0.4:
            node.append(node[i])
        else:
            node[i] = _mutate(node[i], rng, depth + 1)
        return node
    return _odd(rng)
