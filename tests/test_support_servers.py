import redis
import sqlalchemy as sa


def test_real_redis_answers(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.set("k", "v")
    assert client.get("k") == b"v"


def test_real_postgres_answers(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select version()")).scalar_one().startswith("PostgreSQL")
    engine.dispose()
