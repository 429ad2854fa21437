"""The "did you mean" part of a one-line error. Light: no torch, no mmseg."""
import difflib
from typing import Iterable, List


def close_matches(name: str, known: Iterable[str], n: int = 1) -> List[str]:
    """The ``n`` entries of ``known`` closest to ``name`` (difflib's ratio
    >= 0.6), best first."""
    return difflib.get_close_matches(str(name), [str(k) for k in known], n=n)


def did_you_mean(name: str, known: Iterable[str], n: int = 1) -> str:
    """``"; did you mean 'x'?"`` naming the ``n`` closest of ``known`` to
    ``name``, or ``''`` when none is close.

    Args:
        name (str): What was written.
        known (Iterable[str]): What is valid there.
        n (int): How many to name at most. Defaults to 1.

    Returns:
        str: The hint, to append to a message.
    """
    close = close_matches(name, known, n)
    if not close:
        return ''
    return f"; did you mean {' or '.join(repr(c) for c in close)}?"
