"""Prometheus metrics: what the workers did (counters and histograms, prometheus_client's
multiprocess mode) and what the fleet looks like now (read from Redis and the database
when Prometheus scrapes), served together by `vurti metrics`."""
