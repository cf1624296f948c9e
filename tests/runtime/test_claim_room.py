"""Beat's flow control: how many due hosts it claims for the fetch queue."""

from __future__ import annotations

import pytest

from tasks.beat import claim_room


@pytest.mark.parametrize(
    "queued, backlog, batch, room",
    [(0, 20, 50, 1000), (5, 20, 50, 750), (20, 20, 50, 0), (35, 20, 50, 0), (0, 1, 1, 1)],
)
def test_claims_stop_while_the_fetch_queue_is_backed_up(queued: int, backlog: int, batch: int, room: int) -> None:
    assert claim_room(queued, backlog, batch) == room


@pytest.mark.parametrize(
    "updates_queued, update_backlog, room",
    [(0, 40, 1000), (39, 40, 1000), (40, 40, 0), (500, 40, 0), (500, 0, 1000)],
)
def test_claims_stop_while_the_update_queue_is_backed_up(updates_queued: int, update_backlog: int, room: int) -> None:
    assert claim_room(0, 20, 50, updates_queued, update_backlog) == room
