"""Who holds which host's connection: rendezvous hashing (pure) and live members in real Redis."""

from __future__ import annotations

import redis

from vurti.runtime.members import Members, assign, owner

HOSTS = [f"host-{i:04d}" for i in range(2000)]


def test_every_host_has_one_owner_and_the_load_is_spread() -> None:
    members = ["fetch1@a", "fetch2@b", "fetch3@c", "fetch4@d"]
    groups = assign(HOSTS, members)
    assert set(groups) == set(members)
    assert sum(len(g) for g in groups.values()) == len(HOSTS)
    assert min(len(g) for g in groups.values()) > len(HOSTS) / len(members) * 0.8


def test_the_owner_does_not_depend_on_the_order_of_the_member_list() -> None:
    members = ["fetch1@a", "fetch2@b", "fetch3@c"]
    assert all(owner(h, members) == owner(h, list(reversed(members))) for h in HOSTS)


def test_a_member_that_leaves_hands_over_only_its_own_hosts() -> None:
    before = ["fetch1@a", "fetch2@b", "fetch3@c"]
    after = ["fetch1@a", "fetch3@c"]
    moved = [h for h in HOSTS if owner(h, before) != owner(h, after)]
    assert moved and all(owner(h, before) == "fetch2@b" for h in moved)


def test_a_member_that_joins_takes_about_its_share_and_only_from_others() -> None:
    before = ["fetch1@a", "fetch2@b"]
    after = [*before, "fetch3@c"]
    moved = [h for h in HOSTS if owner(h, before) != owner(h, after)]
    assert all(owner(h, after) == "fetch3@c" for h in moved)
    assert len(HOSTS) / 3 * 0.8 < len(moved) < len(HOSTS) / 3 * 1.2


def test_no_members_no_owner() -> None:
    assert owner("host-1", []) is None


def test_members_are_alive_until_their_heartbeat_runs_out(client: redis.Redis) -> None:
    members = Members(client, ttl=5.0)
    members.heartbeat("fetch2@b", now=100.0)
    members.heartbeat("fetch1@a", now=102.0)
    assert members.live(104.0) == ["fetch1@a", "fetch2@b"]
    assert members.live(106.0) == ["fetch1@a"]
    assert members.prune(106.0) == ["fetch2@b"]
    members.leave("fetch1@a")
    assert members.live(100.0) == []
