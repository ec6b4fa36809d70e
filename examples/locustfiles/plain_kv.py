"""A third-party locustfile, as anyone would write it: a plain FastHttpUser with two tasks.

Runs unchanged under ``locust -f`` and under edgeproof (``locustfile:
examples/locustfiles/plain_kv.py``); edgeproof then gives it a host but records nothing.
See recorded_kv.py for the same file with the recorder added.
"""

import random

from locust import FastHttpUser, between, task


class KvClient(FastHttpUser):
    wait_time = between(0.01, 0.03)

    @task(3)
    def read_item(self):
        self.client.get("/kv/item")

    @task
    def write_item(self):
        self.client.put("/kv/item", json={"value": random.randrange(10**12)})
