"""The one root exception of edgeproof and its small tree.

EdgeproofError
 +-- ConfigError          bad input: scenario files, CLI flags (exit 2)
 +-- InfrastructureError  a tool or engine is missing or failing: Toxiproxy, Docker, ports
 +-- FaultError           a fault could not be applied or healed
 +-- TestbedError         a testbed could not be stood up, or a node misbehaves

Every message is one paragraph that names the thing, the value and the fix. A *finding*
(a check that fails) is never an exception: it is a verdict in the results.
"""

from __future__ import annotations


class EdgeproofError(Exception):
    """Root of every error edgeproof raises on purpose."""

    exit_code = 2


class ConfigError(EdgeproofError):
    """A scenario, testbed file or CLI flag is invalid."""


class InfrastructureError(EdgeproofError):
    """A tool edgeproof drives (Toxiproxy, Docker, cgroups, ports) is missing or failing."""


class FaultError(EdgeproofError):
    """A fault could not be applied or healed."""


class TestbedError(EdgeproofError):
    """A testbed could not be stood up or torn down, or a node did not become ready."""

    __test__ = False  # not a pytest test class
