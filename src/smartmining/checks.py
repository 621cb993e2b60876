"""The one guard for integer parameters: a clear error naming the parameter and the range it must lie in."""

from __future__ import annotations

from typing import Any

import numpy as np

from smartmining.errors import SmartMiningError


def is_int(value: Any) -> bool:
    """True for Python and NumPy integers, False for bools (which Python counts as integers)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_int(name: str, value: Any, least: int = 1, most: int | None = None) -> int:
    """``value`` as an int if it is an integer in [least, most]; else SmartMiningError naming ``name``."""
    if not is_int(value) or value < least or (most is not None and value > most):
        bound = f"in [{least}, {most}]" if most is not None else f">= {least}"
        raise SmartMiningError(f"{name} must be an integer {bound}, got {value!r}")
    return int(value)
