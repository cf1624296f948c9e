"""Helpers that start real servers (redis-server, PostgreSQL) on 127.0.0.1 for tests."""
