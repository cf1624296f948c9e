"""Errors of the storage layer.

StoreError
 ├── OutOfScope    a repository scoped to some clusters was asked about a host outside them
 ├── HostNotFound  no such host (or it was removed meanwhile)
 └── HostInUse     a host still running VMs cannot be removed
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of the errors this package raises on purpose."""


class OutOfScope(StoreError):
    pass


class HostNotFound(StoreError):
    pass


class HostInUse(StoreError):
    pass
