"""plain_kv.py plus the recorder: one import and one decorator per task (diff the two).

Each task call becomes one history operation (invoke, then exactly one ok/fail/info) of the
user's process, with the outcome taken from the request Locust saw. Under plain
``locust -f`` the decorators do nothing.
"""

import random

from locust import FastHttpUser, between, task

from workloads import recorded


class KvClient(FastHttpUser):
    wait_time = between(0.01, 0.03)

    @task(3)
    @recorded("read", key="item")
    def read_item(self):
        self.client.get("/kv/item")

    @task
    @recorded("write", key="item")
    def write_item(self):
        self.client.put("/kv/item", json={"value": random.randrange(10**12)})
