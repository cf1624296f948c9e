"""A fleet of simulated VDSM hosts in one process, indistinguishable on the wire from real ones.

`fleet` holds the state, `actions` the VM transitions, `life` the seeded churn,
`wire`/`hostinfo` render VDSM's replies, `rpc` answers the verbs, `faults` bends
them on demand, `agent`/`agents` serve each host's JSON-RPC over STOMP, `events`
sends status events, `pki` makes the TLS material, `server`/`control` serve it all
and `control_client` drives it from tests and scripts.
"""
