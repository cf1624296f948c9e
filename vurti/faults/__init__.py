"""The fault suite (`vurti faults`): faults injected into a real stack under a churning
simulated fleet, counted against the simulator's ground truth (docs/reliability.md)."""
