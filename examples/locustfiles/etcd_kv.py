"""etcd v3 reads and writes through its JSON gateway, recorded for a consistency check.

Each Locust user is one history process sticking to one member (edgeproof spreads the users
over the client targets); it writes values unique in the history and reads keys back. Reads are
linearizable (etcd's default: the member asks the leader) unless ``serializable`` is set, as
in ``etcd_kv_serializable.py``: then a member answers from its own, possibly stale, state.
"""

from __future__ import annotations

import base64
import random

from locust import FastHttpUser, task

from workloads import record

STRIDE = 1_000_000_000  # write values: process * STRIDE + counter, unique in the history


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class EtcdUser(FastHttpUser):
    """Reads and writes keys k0..k<keys-1> of one member."""

    abstract = True
    serializable = False

    def __init__(self, environment: object) -> None:
        timeout_s = float(environment.edgeproof.spec["timeout_ms"]) / 1000  # type: ignore[attr-defined]
        self.network_timeout = self.connection_timeout = timeout_s  # before the client exists
        super().__init__(environment)  # type: ignore[arg-type]

    def on_start(self) -> None:
        spec = self.environment.edgeproof.spec
        self.process = self.environment.edgeproof.process_of(self)
        self.rng = random.Random(f"{spec['seed']}/{self.process}")
        self.keys = [f"k{i}" for i in range(int(spec["keys"]))]
        self.read_fraction = float(spec["read_fraction"])
        self.think_s = float(spec["think_time_ms"]) / 1000
        self.counter = 0

    def wait_time(self) -> float:
        return self.rng.expovariate(1 / self.think_s) if self.think_s > 0 else 0.0

    @task
    def operation(self) -> None:
        key = self.rng.choice(self.keys)
        if self.rng.random() < self.read_fraction:
            self.read(key)
        else:
            self.counter += 1
            self.write(key, self.process * STRIDE + self.counter)

    def read(self, key: str) -> None:
        body = {"key": b64(key), "serializable": self.serializable}
        with record(self, "read", key) as op:
            r = self.client.post("/v3/kv/range", json=body, name="range")
            if r.status_code == 200:
                kvs = (r.json() or {}).get("kvs") or []
                op.ok(int(base64.b64decode(kvs[0]["value"])) if kvs else None)

    def write(self, key: str, value: int) -> None:
        body = {"key": b64(key), "value": b64(str(value))}
        with record(self, "write", key, value):
            self.client.post("/v3/kv/put", json=body, name="put")


class LinearizableReads(EtcdUser):
    """Linearizable reads (etcd's default)."""
