"""Testbeds, the ground floor: the testbed spec, backends (local processes, docker
containers), their wiring through Toxiproxy, the reference edge service, hardware emulation,
state and reaping. Imports nothing of edgeproof but ``harness.errors``."""
