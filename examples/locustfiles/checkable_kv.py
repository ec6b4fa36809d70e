"""The context-manager form of the recorder, for histories a linearizability check can use:
the written value and the value read go into the history.

    with record(self, "write", key, value) as op:   # invoke now
        ...                                         # one completion when the block ends
        op.ok(...)                                  # optional: explicit outcome and value
"""

import itertools

from locust import FastHttpUser, between, task

from workloads import record

_values = itertools.count(1)


class CheckableKvClient(FastHttpUser):
    wait_time = between(0.01, 0.03)

    @task
    def read_item(self):
        with record(self, "read", "item") as op, \
                self.client.get("/kv/item", catch_response=True) as resp:
            if resp.status_code == 200:
                op.ok(resp.json()["value"])
            elif resp.status_code == 404:
                resp.success()  # an absent key is a valid read of nil
                op.ok(None)

    @task
    def write_item(self):
        value = next(_values)  # unique per process (and per load process)
        with record(self, "write", "item", value):
            self.client.put("/kv/item", json={"value": value})
