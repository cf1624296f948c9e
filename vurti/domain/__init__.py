"""Domain data: statuses, reports from agents, stored state, events and commands.

Everything here is plain typed data with no I/O, shared by every other layer.
"""
