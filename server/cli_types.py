"""argparse types for `ferry-server` flags: a value that would stop the server working is refused while parsing,
with the flag's name, before anything starts."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def bounded(kind: type[int] | type[float], low: float, *, inclusive: bool = True) -> Callable[[str], int | float]:
    """Numbers of `kind` at least `low` (or above it); NaN is refused too."""
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not (value >= low if inclusive else value > low):
            raise argparse.ArgumentTypeError(f"must be {'at least' if inclusive else 'more than'} {low:g}, not {text}")
        return value
    return parse


COUNT = bounded(int, 1)  # how many at once: 0 would serve nobody
NON_NEGATIVE_INT = bounded(int, 0)
NON_NEGATIVE = bounded(float, 0)
SECONDS = bounded(float, 0, inclusive=False)  # a timeout: 0 would drop every connection
