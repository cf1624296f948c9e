"""Which hosts a repository may see: the whole system, or some clusters.

A worker can be given a scope (e.g. its clusters) so that a bug or a misrouted
task cannot touch another part of the fleet: repositories filter reads and
refuse writes outside it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Connection

from vurti.store.errors import OutOfScope
from vurti.store.sqlutil import chunked
from vurti.store.tables import vds_static


@dataclass(frozen=True)
class Scope:
    """`cluster_ids` None means the whole system."""

    cluster_ids: frozenset[str] | None = None

    @classmethod
    def of_clusters(cls, *cluster_ids: str) -> Scope:
        return cls(frozenset(cluster_ids))

    @property
    def is_system(self) -> bool:
        return self.cluster_ids is None

    def allows_cluster(self, cluster_id: str) -> bool:
        return self.cluster_ids is None or cluster_id in self.cluster_ids


class ScopeGuard:
    """Checks hosts against a scope, remembering the answers for one unit of work.

    With the system scope every check is free; otherwise the first check of a host
    costs one query, later ones none.
    """

    def __init__(self, connection: Connection, scope: Scope) -> None:
        self._conn = connection
        self.scope = scope
        self._inside: set[str] = set()
        self._outside: set[str] = set()

    def note_inside(self, host_id: str) -> None:
        self._inside.add(host_id)

    def inside(self, host_ids: Iterable[str]) -> set[str]:
        """The subset of `host_ids` that the scope allows."""
        wanted = set(host_ids)
        if self.scope.cluster_ids is None:
            return wanted
        unknown = wanted - self._inside - self._outside
        if unknown:
            found: set[str] = set()
            for part in chunked(sorted(unknown)):
                stmt = select(vds_static.c.id).where(
                    vds_static.c.id.in_(part), vds_static.c.cluster_id.in_(sorted(self.scope.cluster_ids))
                )
                found.update(self._conn.execute(stmt).scalars())
            self._inside |= found
            self._outside |= unknown - found
        return wanted & self._inside

    def require(self, host_ids: Collection[str]) -> None:
        missing = set(host_ids) - self.inside(host_ids)
        if missing:
            raise OutOfScope(f"hosts outside {self.scope}: {sorted(missing)}")
