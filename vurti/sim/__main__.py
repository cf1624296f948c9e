"""`python -m vurti.sim ...`: the same as `vurti sim ...`."""

from __future__ import annotations

from vurti.cli.sim_cmd import sim

if __name__ == "__main__":
    sim(prog_name="python -m vurti.sim")
