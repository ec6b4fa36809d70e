"""Docker backend figures: image build time, up-to-ready for 3/10/30 containers, idle memory.

- Image build: the service and Toxiproxy images are removed and rebuilt from the local base
  with no layer of an earlier build reused (cold: `nocache`, the base excluded), then asked
  for again (cached: a content-hash lookup). ``--rebuild-base`` also removes
  and re-debootstraps ``edgeproof/base:bookworm`` first (about a minute; needs root).
- Up-to-ready: a ring (node i <-> i+1, last back to first) of reference-service nodes with a
  client proxy each, timed from ``DockerTestbed.up()`` until every node answers its probe
  (target: 10 containers <= 10 s with the images built), then brought down again.
- Idle memory per node container, once ready: the engine's stats (``memory_stats.usage``, and
  usage minus page cache), and the Toxiproxy container's.

Run: ``.venv/bin/python bench/docker_up.py [--sizes 3,10,30] [--rebuild-base] [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TARGET_S = {10: 10.0}


def ring_spec(n: int) -> Any:
    """n reference nodes in a ring, eventual mode (each node replicates to its neighbours)."""
    from testbeds.spec import TestbedSpec
    names = [f"n{i}" for i in range(n)]
    links = [{"between": [names[i], names[(i + 1) % n]], "latency_ms": 1}
             for i in range(n if n > 2 else 1)]
    return TestbedSpec.model_validate({
        "backend": "docker", "service": {"mode": "eventual"},
        "nodes": [{"name": x} for x in names], "links": links})


def build_times(client: Any, rebuild_base: bool) -> dict[str, float]:
    """Seconds for a cold build (service + toxiproxy, optionally the base) and a cached one."""
    from testbeds import images
    built = images.ensure_images(client)
    doomed = [built.service, built.toxiproxy] + ([images.LOCAL_BASE] if rebuild_base else [])
    for ref in doomed:
        client.images.remove(ref, force=True)
    _, cold = images.timed_ensure(client, nocache=True)  # cold: no earlier layer reused
    _, cached = images.timed_ensure(client)
    return {"cold_s": round(cold, 2), "cached_s": round(cached, 3),
            "rebuilt_base": rebuild_base}


def memory(client: Any, name: str) -> dict[str, float]:
    """Memory of one container from the engine's stats, in MiB."""
    st = client.containers.get(name).stats(stream=False)["memory_stats"]
    usage = st.get("usage", 0)
    cache = st.get("stats", {}).get("cache", st.get("stats", {}).get("inactive_file", 0))
    return {"usage_mb": usage / 2**20, "no_cache_mb": (usage - cache) / 2**20}


def up_once(n: int) -> dict[str, Any]:
    """Stand up a ring of n containers, time it, read idle memory, bring it down."""
    from harness.runner import new_run_id
    from testbeds.docker import DockerTestbed
    spec = ring_spec(n)
    with tempfile.TemporaryDirectory(prefix="ep-bench-") as tmp:
        t = time.monotonic()
        tb = DockerTestbed.up(spec, run_id=new_run_id(), name=f"bench-{n}",
                              workdir=Path(tmp) / "w")
        up_s = time.monotonic() - t
        try:
            time.sleep(2.0)  # let the nodes settle to idle before reading their memory
            mems = [memory(tb.client, str(r.container)) for r in tb.nodes.values()]
            proxy = memory(tb.client, tb.record.docker["toxiproxy"])
        finally:
            t = time.monotonic()
            tb.down()
            down_s = time.monotonic() - t
    return {"nodes": n, "up_s": round(up_s, 2), "down_s": round(down_s, 2),
            "target_s": TARGET_S.get(n),
            "node_mem_mb_median": round(statistics.median(m["usage_mb"] for m in mems), 1),
            "node_mem_no_cache_mb_median": round(
                statistics.median(m["no_cache_mb"] for m in mems), 1),
            "toxiproxy_mem_mb": round(proxy["usage_mb"], 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="3,10,30")
    ap.add_argument("--rebuild-base", action="store_true")
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("EDGEPROOF_STATE_DIR", tempfile.mkdtemp(prefix="ep-bench-state-"))
    from testbeds.docker import connect
    client = connect()
    out: dict[str, Any] = {}
    if not args.skip_build:
        out["build"] = build_times(client, args.rebuild_base)
        print(f"image build: {out['build']}", file=sys.stderr)
    out["up"] = []
    for n in (int(s) for s in args.sizes.split(",")):
        row = up_once(n)
        out["up"].append(row)
        print(f"up {row}", file=sys.stderr)
    print(json.dumps(out, indent=1 if args.json else None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
