"""The suppression rule of benchmarking: never a group under k, never two groups that differ by
fewer than k organisations, always groups the organisation belongs to."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.analysis.privacy import ALL, GroupKey, candidates, comparison_groups, group_sizes

TYPES = ("kommun", "region", "myndighet")
members_strategy = st.lists(
    st.tuples(
        st.sampled_from(TYPES),
        st.one_of(st.none(), st.sampled_from(("s1", "s2", "s3"))),
        st.one_of(st.none(), st.sampled_from(("c1", "c2", "c3", "c4"))),
    ),
    min_size=1,
    max_size=120,
)


def belongs(key: GroupKey, member: tuple[str, str | None, str | None]) -> bool:
    t, s, c = member
    return (
        (key.type is None or key.type == t)
        and (key.size is None or key.size == s)
        and (key.county is None or key.county == c)
    )


@settings(max_examples=300, deadline=None)
@given(members=members_strategy, k=st.integers(min_value=2, max_value=8))
def test_no_group_under_k_and_no_differencing(
    members: list[tuple[str, str | None, str | None]], k: int
) -> None:
    sizes = group_sizes(members)
    for member in members:
        groups = comparison_groups(*member, sizes, k)
        previous = 0
        for key in groups:
            n = sum(1 for m in members if belongs(key, m))
            assert n == sizes[key]
            assert n >= k  # never a group under k
            assert belongs(key, member)  # only groups the organisation is in
            assert n - previous >= k  # a wider group adds at least k organisations
            previous = n
        # nested, finest first
        assert [g.depth for g in groups] == sorted((g.depth for g in groups), reverse=True)
        if len(members) >= k:
            assert groups  # all submitting organisations are at least k: something is shown
        else:
            assert groups == []  # suppressed: too few submitted at all


def test_small_groups_merge_upward() -> None:
    members = [("kommun", "liten", "Skåne län")] * 3 + [("kommun", "liten", "Hallands län")] * 4
    members += [("kommun", "stor", "Skåne län")] * 10 + [("myndighet", None, None)] * 30
    sizes = group_sizes(members)
    # 3 small kommuner in Skåne: merged into small kommuner (7), then kommuner (17), then all (47)
    assert comparison_groups("kommun", "liten", "Skåne län", sizes, 5) == [
        GroupKey("kommun", "liten"),
        GroupKey("kommun"),
        ALL,
    ]
    # large kommuner in Skåne: 10, and "large kommuner" is the same 10 organisations: left out
    assert comparison_groups("kommun", "stor", "Skåne län", sizes, 5) == [
        GroupKey("kommun", "stor", "Skåne län"),
        GroupKey("kommun"),
        ALL,
    ]
    # myndigheter without size class or county: type (30), all (47)
    assert comparison_groups("myndighet", None, None, sizes, 5) == [GroupKey("myndighet"), ALL]
    assert candidates("myndighet", None, "Skåne län") == [GroupKey("myndighet"), ALL]


def test_differencing_is_prevented() -> None:
    # 40 kommuner of one size, 2 of another: "kommuner" (42) differs from the size group (40) by 2
    members = [("kommun", "a", None)] * 40 + [("kommun", "b", None)] * 2 + [("region", None, None)] * 9
    sizes = group_sizes(members)
    assert comparison_groups("kommun", "a", None, sizes, 5) == [GroupKey("kommun", "a"), ALL]
    assert comparison_groups("kommun", "b", None, sizes, 5) == [GroupKey("kommun"), ALL]


def test_too_few_submitted_shows_nothing() -> None:
    members = [("kommun", None, None)] * 4
    assert comparison_groups("kommun", None, None, group_sizes(members), 5) == []
