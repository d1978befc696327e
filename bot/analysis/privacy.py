"""Which comparison groups an organisation may be shown: the suppression rule of benchmarking.

An organisation is compared with organisations like it. The candidate groups, finest first,
are nested::

    type + size class + county  ⊂  type + size class  ⊂  type  ⊂  all submitting organisations

(a level is skipped when the organisation's size class or county is unknown). The rule,
with ``k`` = ``ASSESSBOT_BENCHMARK_MIN_GROUP`` (5):

1. **Small groups are merged upward**: a group with fewer than ``k`` submitting
   organisations (the recipient included) is never shown; the next wider group takes its
   place.
2. **No differencing**: a wider group is shown only if it holds at least ``k``
   organisations more than the finer group shown before it. Otherwise subtracting one
   group's figures from the other's would describe fewer than ``k`` organisations (in the
   extreme, one organisation), so the wider group is left out.
3. **Suppressed**: when even all submitting organisations are fewer than ``k``, nothing is
   compared.

Group figures are always shares and means over the whole group; no minimum, maximum or
single value of another organisation is ever shown, and no other organisation is named.
The national report for the coordinating authority is not bound by this rule; it shows
small groups and marks them.

Pure functions over values; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, order=True)
class GroupKey:
    """A comparison group: None in a field means "any"."""

    type: str | None = None
    size: str | None = None
    county: str | None = None

    @property
    def depth(self) -> int:
        return sum(x is not None for x in (self.type, self.size, self.county))


ALL = GroupKey()


def candidates(type_: str, size: str | None, county: str | None) -> list[GroupKey]:
    """The nested candidate groups of an organisation, finest first."""
    out = []
    if size and county:
        out.append(GroupKey(type_, size, county))
    if size:
        out.append(GroupKey(type_, size, None))
    out += [GroupKey(type_, None, None), ALL]
    return out


def keys_of(type_: str, size: str | None, county: str | None) -> list[GroupKey]:
    """Every group an organisation counts in (for tallying group sizes)."""
    return candidates(type_, size, county)


def group_sizes(members: Sequence[tuple[str, str | None, str | None]]) -> dict[GroupKey, int]:
    """How many organisations each group holds, from (type, size, county) per organisation."""
    sizes: dict[GroupKey, int] = {}
    for t, s, c in members:
        for key in keys_of(t, s, c):
            sizes[key] = sizes.get(key, 0) + 1
    return sizes


def comparison_groups(
    type_: str, size: str | None, county: str | None, sizes: Mapping[GroupKey, int], k: int = 5
) -> list[GroupKey]:
    """The groups the organisation may be shown, finest first (see the module docstring).

    Returns:
        At most four nested groups, each of at least ``k`` organisations and each at least
        ``k`` larger than the one before; empty when all submitting organisations are fewer
        than ``k``.
    """
    shown: list[GroupKey] = []
    previous = 0
    for key in candidates(type_, size, county):
        n = sizes.get(key, 0)
        if n < k:
            continue  # merged upward
        if shown and n - previous < k:
            continue  # would let the difference describe fewer than k organisations
        shown.append(key)
        previous = n
    return shown
