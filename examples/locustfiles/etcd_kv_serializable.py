"""The etcd workload of ``etcd_kv.py`` with serializable reads: a member answers from its own
state, so an isolated member serves stale values while the others move on."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from etcd_kv import EtcdUser


class SerializableReads(EtcdUser):
    """Serializable reads: local, possibly stale."""

    serializable = True
