"""A fetch worker as the holder of its hosts' connections: their events in, membership, hand-over.

One Holder per fetch worker process (the tasks start it once the worker is ready):

- Events: VDSM's events arrive on the links' event-loop thread; each becomes a
  partial report (vurti.agent.events) and a sender thread ships them to the update
  queue every FLUSH_EVERY seconds, so the loop never waits on the broker.
- Membership: every HEARTBEAT_EVERY seconds the holder renews its membership
  (vurti.runtime.members), tells Redis which hosts' events flow through it (their
  polls slow to the safety net, vurti.runtime.push) and which stopped (their polls
  come back at once), and closes its links to hosts that another member owns now or
  that nobody polled for STALE_AFTER seconds (removed hosts).

A host held by two members for a moment (one joining, one not yet aware) sends its
events twice; the update path orders every VM by the host's own clock, so the
second copy changes nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from vurti.agent.address import AgentAddress
from vurti.agent.events import capabilities_hint, event_report
from vurti.domain.report import HostReport
from vurti.runtime.members import Members, owner
from vurti.runtime.push import PushRegistry

log = logging.getLogger(__name__)

FLUSH_EVERY = 0.02  # seconds an event waits at most for others to share its update message
HEARTBEAT_EVERY = 1.0
STALE_AFTER = 120.0  # a link no poll used for this long belongs to a removed host
EVENTS_PER_MESSAGE = 25


class Links(Protocol):
    """BatchPoller: the process's links."""

    def event_urls(self) -> set[str]: ...

    def drop(self, urls: Sequence[str]) -> None: ...


class Holder:
    def __init__(
        self,
        member: str,
        members: Members,
        push: PushRegistry,
        send: Callable[[list[HostReport]], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.member = member
        self._members = members
        self._push = push
        self._send = send
        self._clock = clock
        self._links: Links | None = None
        self._hosts: dict[str, str] = {}  # url -> host id, as the fetch side polls them
        self._polled: dict[str, float] = {}  # url -> when a poll last used it
        self._held: set[str] = set()  # host ids registered as pushed by this member
        self._caps_due: set[str] = set()  # host ids whose agent hinted that its capabilities changed
        self._events: deque[HostReport] = deque()
        self._lost: deque[str] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._owned: set[str] = set()  # urls whose host this member owns under `live`
        self.live: list[str] = [member]

    def __repr__(self) -> str:
        return f"Holder({self.member!r}, hosts={len(self._hosts)}, pushed={len(self._held)})"

    # -- the fetch side -------------------------------------------------------------------

    def polled(self, host_id: str, url: str) -> None:
        """A poll of `host_id` goes over the link to `url` (this process holds it)."""
        self._hosts[url] = host_id
        self._polled[url] = self._clock()

    def pushed(self, host_id: str) -> bool:
        """The host's events flow through this process: its polls are the safety net."""
        return host_id in self._held

    def capabilities_due(self, host_id: str) -> bool:
        """The host hinted that its capabilities changed since its last poll (once: taken)."""
        if host_id not in self._caps_due:
            return False
        self._caps_due.discard(host_id)
        return True

    # -- the links' loop thread (must not block) ------------------------------------------

    def on_event(self, address: AgentAddress, message: dict[str, Any]) -> None:
        host_id = self._hosts.get(str(address))
        if host_id is None:
            return
        if capabilities_hint(message):
            self._caps_due.add(host_id)  # the next poll reads them (oVirt's HostConnectionRefresher)
            return
        report = event_report(host_id, message, self._clock())
        if report is not None:
            self._events.append(report)
            self._wake.set()

    def on_lost(self, url: str) -> None:
        self._lost.append(url)
        self._wake.set()

    # -- threads --------------------------------------------------------------------------

    def start(self, links: Links) -> None:
        self._links = links
        self.tick()
        for target, name in ((self._send_loop, "vurti-events"), (self._beat_loop, "vurti-membership")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Leave: other members take this one's hosts at once."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(5.0)
        self.flush()
        try:
            self._members.leave(self.member)
            self._push.release(self._held, self._clock(), self.member)
        except Exception:  # beat takes the hosts over when the membership expires
            log.warning("could not leave the members cleanly", exc_info=True)

    def _send_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(FLUSH_EVERY)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # the next safety-net poll catches what was lost
                log.exception("sending pushed events failed")

    def _beat_loop(self) -> None:
        while not self._stop.wait(HEARTBEAT_EVERY):
            try:
                self.tick()
            except Exception:  # Redis away: try again; beat falls back to polling
                log.warning("membership heartbeat failed", exc_info=True)

    def flush(self) -> None:
        """Ship the events received so far; give up the hosts whose event links broke."""
        reports: list[HostReport] = []
        while self._events:
            reports.append(self._events.popleft())
        for start in range(0, len(reports), EVENTS_PER_MESSAGE):
            self._send(reports[start : start + EVENTS_PER_MESSAGE])
        lost: set[str] = set()
        while self._lost:
            host_id = self._hosts.get(self._lost.popleft())
            if host_id is not None:
                lost.add(host_id)
        if lost:
            self._held -= lost
            released = self._push.release(lost, self._clock(), self.member)
            log.info("events of %d hosts stopped (links lost); %d back to the normal poll cadence",
                     len(lost), released)

    def tick(self) -> None:
        """Membership, which hosts are pushed, and links to hand over."""
        now = self._clock()
        self._members.heartbeat(self.member, now)
        live = self._members.live(now) or [self.member]
        if live != self.live:
            self.live, self._owned = live, set()  # who owns what is worked out again
        if self._links is None:
            return
        hosts = dict(self._hosts)
        flowing = {hosts[u] for u in self._links.event_urls() if u in hosts}
        new = flowing - self._held
        if new:
            self._push.hold(self.member, new)
            self._held |= new
        drop = []
        for url, host_id in hosts.items():
            if now - self._polled.get(url, now) > STALE_AFTER:
                drop.append(url)
            elif url not in self._owned:
                if owner(host_id, self.live) == self.member:
                    self._owned.add(url)
                else:
                    drop.append(url)
        if drop:
            gone = {self._hosts.pop(url) for url in drop}
            for url in drop:
                self._polled.pop(url, None)
                self._owned.discard(url)
            self._links.drop(drop)
            self._held -= gone
            self._push.release(gone, now, self.member)
            log.info("handed over %d hosts (members now: %s)", len(gone), ", ".join(self.live))
