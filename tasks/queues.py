"""The Celery queues, named once (under kombu's Redis transport each is a Redis list of that name).

- `fetch`: polls, while no fetch worker holds connections; each fetch worker also has
  a queue of its own (`<node>.dq2`, tasks/holding.py) for the hosts it holds.
- `update`: poll reports to analyse and write, and beat's sweeps.
- `events`: the reports of VDSM's pushed events. Every worker that consumes `update`
  consumes `events` too, and ahead of it (celeryconfig: the broker reads a worker's
  queues in the order it lists them; prefetch 1): an event waits for the update in
  progress, never behind a queue of statistics batches. Operators start update workers
  with `-Q update` as before.
"""

from __future__ import annotations

from typing import Any

from celery.signals import celeryd_after_setup

FETCH = "fetch"
UPDATE = "update"
EVENTS = "events"


@celeryd_after_setup.connect
def _events_first(sender: str, instance: Any, **_: Any) -> None:
    queues = instance.app.amqp.queues
    names = list(queues.consume_from)
    if UPDATE in names:
        queues.select([EVENTS, *(n for n in names if n != EVENTS)])
