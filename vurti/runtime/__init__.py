"""Shared runtime state in Redis: per-host locks, the poll schedule, the hot-path cache."""
