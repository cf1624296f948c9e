"""Every storage test runs on SQLite (a temporary file) and on the session's real PostgreSQL.

Each PostgreSQL test gets its own schema (selected through the connection's
search_path), dropped afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vurti.domain.model import Cluster, HostConfig
from vurti.store import SqlUnitOfWork, make_engine, upgrade


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/vurti.db"
        return
    base = request.getfixturevalue("postgres_url")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    upgrade(db_url)
    eng = make_engine(db_url)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def uow(engine: Engine) -> SqlUnitOfWork:
    return SqlUnitOfWork(engine)


CLUSTER = Cluster("c1", "cluster one", required_cpu_flags=("vmx",), required_networks=("ovirtmgmt",))
HOST = HostConfig("h1", "host-1", "c1", "http://127.0.0.1:1")
OTHER = HostConfig("h2", "host-2", "c1", "http://127.0.0.1:2")


@pytest.fixture
def hosts(uow: SqlUnitOfWork) -> tuple[HostConfig, HostConfig]:
    """Cluster c1 with hosts h1 and h2, committed."""
    with uow:
        uow.hosts.add_cluster(CLUSTER)
        uow.hosts.add_host(HOST)
        uow.hosts.add_host(OTHER)
        uow.commit()
    return HOST, OTHER
