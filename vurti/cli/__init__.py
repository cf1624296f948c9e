"""The `vurti` command line."""
