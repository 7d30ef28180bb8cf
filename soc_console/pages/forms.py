"""Form fields the console reads by hand: a value outside its enum is the sender's error (a 422,
`InvalidChange`), never a `ValueError` that would surface as a server error."""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

from api.errors import InvalidChange

E = TypeVar("E", bound=Enum)


def choice(kind: type[E], value: str, *, field: str) -> E | None:
    """`value` as a member of `kind`; None when the field was left empty."""
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(str(member.value) for member in kind)
        raise InvalidChange(f"{field} must be one of {allowed}", field=field, value=value[:64]) from None
