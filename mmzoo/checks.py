"""Argument checks shared across mmzoo: integers that must be integers, numbers that must
be finite, with errors that name the argument.

>>> integer(3, "num_classes", minimum=2)
3
>>> integer(2.7, "num_classes")
ValueError: num_classes must be an integer, received 2.7.
"""

import math
import numbers


def integer(value, name, minimum=None):
    """`value` as an int; raises a ValueError naming `name` for a non-integer (2.7, "3",
    None, True) or a value below `minimum`. Integral floats (3.0) are accepted."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be an integer, received {value!r}.")
    if not isinstance(value, numbers.Integral):
        if not math.isfinite(value) or not float(value).is_integer():
            raise ValueError(f"{name} must be an integer, received {value!r}.")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, received {value}.")
    return value


def finite(value, name, minimum=None, maximum=None):
    """`value` as a float; raises a ValueError naming `name` for a non-number, NaN,
    an infinity, or a value outside [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, received {value!r}.")
    value = float(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, received {value}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, received {value}.")
    return value
