"""``builtin:ingest``: simulated devices POSTing sensor batches to ``/ingest``.

Each user is one device (``dev-<process>``) and one history process; every batch is an
operation with ``f="ingest"``, ``key`` the device and ``value`` the batch's sequence number.
"""

from __future__ import annotations

from locust import task

from workloads.kv import EdgeproofUser

BATCH = 8  # readings per batch


def classify_ingest(status: int) -> str:
    """2xx ok; 4xx and 501 fail (rejected); other 5xx info (may have been stored)."""
    if 200 <= status < 300:
        return "ok"
    if status == 501 or 400 <= status < 500:
        return "fail"
    return "info"


class IngestUser(EdgeproofUser):
    """A device that sends a batch of ``BATCH`` readings per operation."""

    def on_start(self) -> None:
        self.seq = 0
        self.device = f"dev-{self.process}"

    @task
    def ingest(self) -> None:
        self.seq += 1
        readings = [round(self.rng.gauss(20.0, 2.0), 3) for _ in range(BATCH)]
        seq = self.seq
        self.operation(
            "ingest", self.device, seq, "POST", "/ingest",
            body={"device": self.device, "readings": readings},
            classify=lambda status, _body: (classify_ingest(status), seq),
        )
