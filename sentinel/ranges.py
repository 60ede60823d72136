"""What a pydantic field accepts, in words, for error messages: "an integer from 1 to 256",
"a number greater than 0 and at most 1", "one of auto, cpu, cuda", "true or false"."""

from __future__ import annotations

from types import UnionType
from typing import Literal, Union, get_args, get_origin

from pydantic.fields import FieldInfo


def accepted_values(field: FieldInfo) -> str | None:
    """A choice, a boolean or a (bounded) number in words; None for any other kind of field."""
    bounds = {kind: getattr(m, kind) for m in field.metadata for kind in ("ge", "gt", "le", "lt")
              if hasattr(m, kind)}
    kind = field.annotation
    if get_origin(kind) in (Union, UnionType):  # X | None: describe X
        kind = next(a for a in get_args(kind) if a is not type(None))
    if get_origin(kind) is Literal:
        return "one of " + ", ".join(map(str, get_args(kind)))
    if kind is bool:
        return "true or false"
    noun = "an integer" if kind is int else "a number" if kind is float else None
    if noun is None:
        return None
    low = f"from {bounds['ge']}" if "ge" in bounds else (
        f"greater than {bounds['gt']}" if "gt" in bounds else "")
    high = f"to {bounds['le']}" if "le" in bounds and "ge" in bounds else (
        f"at most {bounds['le']}" if "le" in bounds else (
            f"below {bounds['lt']}" if "lt" in bounds else ""))
    joiner = "and" if low and high and not high.startswith("to ") else ""
    return " ".join(p for p in (noun, low, joiner, high) if p)
