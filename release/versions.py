"""Foundry's own way of comparing versions, and the compatibility rules a release must keep.

Foundry compares versions part by part ("12.331" after "12", "13" after "12.400"): numeric parts as
numbers, others as text, and a version with more parts is the newer when the shared parts are equal.
Its availability test reads a bare integer (`"maximum": "12"`) as a whole generation: every 12.x build.
"""

from __future__ import annotations

import math

from core.textsafe import echo


def _numeric(part: str) -> float | None:
    try:
        value = float(part)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def is_newer(v1: str, v0: str) -> bool:
    """True when `v1` is a more advanced version than `v0`, as Foundry's isNewerVersion decides."""
    parts1, parts0 = str(v1).split("."), str(v0).split(".")
    for index, p1 in enumerate(parts1):
        if index >= len(parts0):
            return True  # v0 has no such part: v1 is further along
        p0 = parts0[index]
        n1, n0 = _numeric(p1), _numeric(p0)
        if n1 is not None and n0 is not None:
            if n1 != n0:
                return n1 > n0
        if p1 != p0:  # numerically equal but written differently ("04", "4") falls through to text, as in Foundry
            return p1 > p0
    if len(parts0) > len(parts1):
        return False
    return parts1 != parts0


def _generation(version: str) -> int | None:
    """The generation a bare integer names ("12"), else None."""
    text = str(version).strip()
    return int(text) if text.isdigit() else None


def _generation_of(version: str) -> float | None:
    return _numeric(str(version).split(".")[0])


def compatibility_problems(minimum: str, verified: str, maximum: str | None) -> list[str]:
    """One line per way the range contradicts itself: verified below minimum, or beyond maximum."""
    problems = []
    shown = {name: echo(str(value), 40) for name, value in (("min", minimum), ("ver", verified), ("max", maximum))}
    verified_generation = _generation(verified)
    if verified_generation is not None:
        below = (_generation_of(minimum) or 0) > verified_generation
    else:
        below = is_newer(minimum, verified)
    if below:
        problems.append(
            f"compatibility.verified ({shown['ver']}) is below compatibility.minimum ({shown['min']}): "
            "Foundry would call the package verified on a version it cannot run on."
        )
    if maximum:
        maximum_generation = _generation(maximum)
        if maximum_generation is not None:
            beyond = (_generation_of(verified) or 0) > maximum_generation
        else:
            beyond = is_newer(verified, maximum)
        if beyond:
            problems.append(
                f"compatibility.verified ({shown['ver']}) is beyond compatibility.maximum ({shown['max']}): "
                "Foundry would refuse the package on the version it was verified on."
            )
    return problems
