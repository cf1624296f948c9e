"""Storage: SQLAlchemy Core tables, repositories, the unit of work and the updaters.

Public API: make_engine / upgrade (db), Scope, SqlUnitOfWork, the repositories,
apply_analysis. Engines are made on demand, never at import.
"""

from __future__ import annotations

from vurti.store.db import dispose_after_fork, make_engine, register_fork_safety, upgrade
from vurti.store.errors import HostInUse, HostNotFound, OutOfScope, StoreError
from vurti.store.scope import Scope
from vurti.store.unit_of_work import SqlUnitOfWork, UnitOfWork
from vurti.store.updater import ApplyResult, VdsUpdater, VmUpdater, apply_analysis

__all__ = [
    "ApplyResult",
    "HostInUse",
    "HostNotFound",
    "OutOfScope",
    "Scope",
    "SqlUnitOfWork",
    "StoreError",
    "UnitOfWork",
    "VdsUpdater",
    "VmUpdater",
    "apply_analysis",
    "dispose_after_fork",
    "make_engine",
    "register_fork_safety",
    "upgrade",
]
