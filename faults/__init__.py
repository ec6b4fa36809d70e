"""Faults: fault kinds (their scenario entries and values), the registry, chaos schedules
and the nemesis that plays a schedule on a testbed. Imports only ``testbeds``."""
