"""vurti: horizontally scalable monitoring of hypervisor hosts and their VMs."""

__version__ = "0.1.0"
