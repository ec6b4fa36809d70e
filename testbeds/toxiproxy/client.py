"""A small typed client for Toxiproxy's admin API, one instance per server.

Why our own client: toxiproxy-python keeps the server address in class-level state (one
server per process), sets no request timeouts although Toxiproxy's admin API is known to
hang under load (Shopify/toxiproxy#412, #558), and updates toxics by POST, which v2.12
logs as deprecated. Here every call has a timeout, each client owns one persistent
httpx connection, and any number of servers can be driven from one process.

Verified against Toxiproxy v2.12.0: ``listen="127.0.0.1:0"`` is accepted and the response
carries the real port; toxic and proxy updates take PATCH (POST still works but is logged
as deprecated); errors come back as ``{"error": "...", "status": N}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

import httpx

from harness.errors import FaultError, InfrastructureError
from testbeds.toxiproxy.pipeline import pipelined

DEFAULT_URL = "http://127.0.0.1:8474"
_PROXY_LABEL = re.compile(r'proxy="([^"]*)"')
POPULATE_CHUNK = 1000  # proxies per /populate call
STREAMS = ("upstream", "downstream")


@dataclass(frozen=True)
class Toxic:
    """A toxic as the server reports it."""

    name: str
    type: str
    stream: str = "downstream"
    toxicity: float = 1.0
    attributes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Toxic:
        """Build from the server's JSON object."""
        return cls(
            name=str(data["name"]),
            type=str(data["type"]),
            stream=str(data.get("stream", "downstream")),
            toxicity=float(data.get("toxicity", 1.0)),
            attributes=dict(data.get("attributes") or {}),
        )


@dataclass(frozen=True)
class ProxySpec:
    """What to create: the input of ``populate``."""

    name: str
    listen: str
    upstream: str
    enabled: bool = True

    def to_json(self) -> dict[str, Any]:
        """The JSON object Toxiproxy expects."""
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
        }


@dataclass(frozen=True)
class Proxy(ProxySpec):
    """A proxy as the server reports it; ``listen`` is the real bound address."""

    toxics: tuple[Toxic, ...] = ()

    @property
    def host(self) -> str:
        """Host part of the listen address."""
        return self.listen.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        """Port part of the listen address."""
        return int(self.listen.rsplit(":", 1)[1])

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Proxy:
        """Build from the server's JSON object."""
        return cls(
            name=str(data["name"]),
            listen=str(data.get("listen", "")),
            upstream=str(data.get("upstream", "")),
            enabled=bool(data.get("enabled", True)),
            toxics=tuple(Toxic.from_json(t) for t in data.get("toxics") or ()),
        )


@runtime_checkable
class ProxyAdmin(Protocol):
    """What edgeproof needs from a Toxiproxy admin client (so the client can be swapped)."""

    url: str

    def version(self) -> str: ...
    def proxies(self) -> dict[str, Proxy]: ...
    def create_proxy(
        self, name: str, listen: str, upstream: str, enabled: bool = True
    ) -> Proxy: ...
    def populate(self, specs: Sequence[ProxySpec | Mapping[str, Any]]) -> list[Proxy]: ...
    def get_proxy(self, name: str) -> Proxy: ...
    def set_enabled(self, name: str, enabled: bool) -> Proxy: ...
    def delete_proxy(self, name: str) -> bool: ...
    def add_toxic(
        self,
        proxy: str,
        name: str,
        type: str,
        stream: str = "downstream",
        toxicity: float = 1.0,
        attributes: Mapping[str, Any] | None = None,
    ) -> Toxic: ...
    def update_toxic(
        self,
        proxy: str,
        name: str,
        attributes: Mapping[str, Any],
        toxicity: float | None = None,
    ) -> Toxic: ...
    def remove_toxic(self, proxy: str, name: str) -> bool: ...
    def toxics(self, proxy: str) -> list[Toxic]: ...
    def add_toxics(self, items: Sequence[tuple[str, str, str, str, Mapping[str, Any]]]
                   ) -> None: ...
    def remove_toxics(self, items: Sequence[tuple[str, str]]) -> None: ...
    def set_enabled_many(self, names: Sequence[str], enabled: bool) -> None: ...
    def reset(self) -> None: ...
    def close(self) -> None: ...


def _seg(name: str) -> str:
    """Quote a proxy or toxic name for a URL path."""
    return quote(name, safe="")


def _server_error(response: httpx.Response) -> str:
    """The server's own error text, e.g. 'toxic already exists'."""
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:200] or response.reason_phrase
    if isinstance(data, dict) and "error" in data:
        return str(data["error"])
    return response.text.strip()[:200]


def _fix_for(status: int, what: str) -> str:
    """A one-line fix for an API rejection."""
    if status == 404:
        return f"check the name, or create it first; `edgeproof status` lists the proxies ({what})"
    if status == 409:
        return "it exists already: remove it first, or update it (update_toxic / populate)"
    if status == 400:
        return (
            "check the request: toxic type (latency, bandwidth, slow_close, timeout, "
            "reset_peer, slicer, limit_data), stream (upstream|downstream), attributes, "
            "and that name and upstream are set"
        )
    return "see the Toxiproxy server log for details"


class ToxiproxyClient:
    """Client for one Toxiproxy server; every call times out after ``timeout_s``."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        timeout_s: float = 2.0,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        # trust_env=False: an HTTP(S)_PROXY in the environment must not reroute a loopback API.
        self._http = httpx.Client(
            base_url=self.url, timeout=timeout_s, trust_env=False, transport=transport
        )

    def __repr__(self) -> str:
        return f"ToxiproxyClient(url={self.url!r}, timeout_s={self.timeout_s})"

    def __enter__(self) -> ToxiproxyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the persistent connection."""
        self._http.close()

    # -- transport -------------------------------------------------------------------

    def _send(self, method: str, path: str, body: Any = None) -> httpx.Response:
        """One request; transport problems become InfrastructureError."""
        try:
            return self._http.request(method, path, json=body)
        except httpx.TimeoutException as exc:
            raise InfrastructureError(
                f"Toxiproxy admin API at {self.url}: no answer within {self.timeout_s} s "
                f"to {method} {path} ({type(exc).__name__}); is the server running and not "
                "overloaded? Start one with ToxiproxyServer (or `toxiproxy-server -host "
                "127.0.0.1 -port PORT`), check the URL, or raise timeout_s."
            ) from exc
        except httpx.TransportError as exc:
            raise InfrastructureError(
                f"Toxiproxy admin API at {self.url}: cannot connect for {method} {path} "
                f"({type(exc).__name__}: {exc}); is the server running? Start one with "
                "ToxiproxyServer (or `toxiproxy-server -host 127.0.0.1 -port PORT`), or fix "
                "the URL."
            ) from exc

    def _check(
        self, response: httpx.Response, what: str, missing_ok: bool = False
    ) -> httpx.Response | None:
        """Turn an API rejection into FaultError naming ``what``; None for an allowed 404."""
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code >= 400:
            raise FaultError(
                f"Toxiproxy at {self.url} rejected {what}: HTTP {response.status_code} "
                f"{_server_error(response)!r}; fix: {_fix_for(response.status_code, what)}."
            )
        return response

    def _call(
        self, method: str, path: str, what: str, body: Any = None, missing_ok: bool = False
    ) -> httpx.Response | None:
        """Send and check."""
        return self._check(self._send(method, path, body), what, missing_ok)

    def _decode(self, response: httpx.Response | None, what: str) -> Any:
        """Decode a checked response's JSON."""
        assert response is not None
        try:
            return response.json()
        except ValueError as exc:
            raise InfrastructureError(
                f"Toxiproxy admin API at {self.url} answered {what} with non-JSON "
                f"{response.text[:120]!r}; is that URL really a Toxiproxy server?"
            ) from exc

    def _json(self, method: str, path: str, what: str, body: Any = None) -> Any:
        """Send, check and decode the JSON answer."""
        return self._decode(self._call(method, path, what, body), what)

    def _update(self, path: str, what: str, body: Any) -> Any:
        """PATCH (v2.12 semantics), falling back to POST for servers that lack PATCH."""
        response = self._send("PATCH", path, body)
        if response.status_code == 405:
            response = self._send("POST", path, body)
        return self._decode(self._check(response, what), what)

    # -- API -------------------------------------------------------------------------

    def proxy_bytes(self) -> dict[str, int]:
        """Bytes each proxy has carried (both directions), from the server's Prometheus
        counters (``-proxy-metrics``); {} when the server keeps no metrics."""
        response = self._send("GET", "/metrics")
        if response.status_code == 404:
            return {}
        out: dict[str, int] = {}
        for line in response.text.splitlines():
            if not line.startswith(("toxiproxy_proxy_received_bytes_total",
                                    "toxiproxy_proxy_sent_bytes_total")):
                continue
            labels, _, value = line.rpartition(" ")
            m = _PROXY_LABEL.search(labels)
            if m:
                out[m.group(1)] = out.get(m.group(1), 0) + int(float(value))
        return out

    def version(self) -> str:
        """The server's version string ("git" for a plain `go install` build)."""
        data = self._json("GET", "/version", "GET /version")
        return str(data.get("version", "")) if isinstance(data, dict) else str(data)

    def proxies(self) -> dict[str, Proxy]:
        """All proxies by name."""
        data = self._json("GET", "/proxies", "listing proxies")
        return {name: Proxy.from_json(p) for name, p in data.items()}

    def create_proxy(self, name: str, listen: str, upstream: str, enabled: bool = True) -> Proxy:
        """Create a proxy; ``listen="127.0.0.1:0"`` picks a free port, reported back.

        A proxy created disabled is not bound yet: its ``:0`` resolves on first enable.
        """
        body = ProxySpec(name, listen, upstream, enabled).to_json()
        what = f"creating proxy {name!r} ({listen} -> {upstream})"
        return Proxy.from_json(self._json("POST", "/proxies", what, body))

    def populate(self, specs: Sequence[ProxySpec | Mapping[str, Any]]) -> list[Proxy]:
        """Create or replace many proxies (same-named ones are replaced), in calls of
        POPULATE_CHUNK each: a 100-node mesh's 10,000 in one call outlast the timeout."""
        body = [s.to_json() if isinstance(s, ProxySpec) else dict(s) for s in specs]
        out: list[Proxy] = []
        for i in range(0, len(body), POPULATE_CHUNK):
            part = body[i:i + POPULATE_CHUNK]
            names = ", ".join(repr(p.get("name")) for p in part[:3])
            more = f" and {len(part) - 3} more" if len(part) > 3 else ""
            data = self._json("POST", "/populate", f"populating proxies {names}{more}", part)
            out += [Proxy.from_json(p) for p in data.get("proxies") or ()]
        return out

    def get_proxy(self, name: str) -> Proxy:
        """One proxy; FaultError if it does not exist."""
        return Proxy.from_json(self._json("GET", f"/proxies/{_seg(name)}", f"proxy {name!r}"))

    def set_enabled(self, name: str, enabled: bool) -> Proxy:
        """Enable (listen again) or disable (close listener and all connections) a proxy."""
        verb = "enabling" if enabled else "disabling"
        path = f"/proxies/{_seg(name)}"
        return Proxy.from_json(self._update(path, f"{verb} proxy {name!r}", {"enabled": enabled}))

    def delete_proxy(self, name: str) -> bool:
        """Delete a proxy; True if it existed (a missing proxy is fine)."""
        path = f"/proxies/{_seg(name)}"
        return self._call("DELETE", path, f"deleting proxy {name!r}", missing_ok=True) is not None

    def add_toxic(
        self,
        proxy: str,
        name: str,
        type: str,
        stream: str = "downstream",
        toxicity: float = 1.0,
        attributes: Mapping[str, Any] | None = None,
    ) -> Toxic:
        """Add a toxic (e.g. type="latency", attributes={"latency": 50, "jitter": 0})."""
        body = {
            "name": name,
            "type": type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": dict(attributes or {}),
        }
        what = f"adding {type} toxic {name!r} ({stream}) to proxy {proxy!r}"
        return Toxic.from_json(self._json("POST", f"/proxies/{_seg(proxy)}/toxics", what, body))

    def update_toxic(
        self,
        proxy: str,
        name: str,
        attributes: Mapping[str, Any],
        toxicity: float | None = None,
    ) -> Toxic:
        """Change a toxic's attributes (merged into the current ones) and optionally toxicity."""
        body: dict[str, Any] = {"attributes": dict(attributes)}
        if toxicity is not None:
            body["toxicity"] = toxicity
        path = f"/proxies/{_seg(proxy)}/toxics/{_seg(name)}"
        return Toxic.from_json(
            self._update(path, f"updating toxic {name!r} on proxy {proxy!r}", body)
        )

    def remove_toxic(self, proxy: str, name: str) -> bool:
        """Remove a toxic; True if it existed (a missing toxic or proxy is fine)."""
        path = f"/proxies/{_seg(proxy)}/toxics/{_seg(name)}"
        what = f"removing toxic {name!r} from proxy {proxy!r}"
        return self._call("DELETE", path, what, missing_ok=True) is not None

    # -- bulk (pipelined) -----------------------------------------------------------------

    def bulk(self, calls: list[tuple[str, str, Any]], what: str,
             missing_ok: bool = False) -> list[Any]:
        """Many admin calls at once over pipelined connections (testbeds.toxiproxy.pipeline);
        the first rejection raises FaultError after all were sent."""
        if not calls:
            return []
        try:
            answers = pipelined(self.url, calls, self.timeout_s)
        except (OSError, ConnectionError) as exc:
            raise InfrastructureError(
                f"Toxiproxy admin API at {self.url}: {what} failed in transit ({exc}); is the "
                "server running and not overloaded? (`edgeproof status` shows it)") from exc
        out = []
        for (method, path, _), (status, body) in zip(calls, answers, strict=True):
            if status == 404 and missing_ok:
                out.append(None)
                continue
            if status >= 400:
                raise FaultError(
                    f"Toxiproxy at {self.url} rejected {what} ({method} {path}): HTTP {status} "
                    f"{body[:200].decode(errors='replace')!r}; fix: "
                    f"{_fix_for(status, what)}.")
            out.append(json.loads(body) if body else None)
        return out

    def add_toxics(self, items: Sequence[tuple[str, str, str, str, Mapping[str, Any]]]) -> None:
        """Add many toxics: (proxy, name, type, stream, attributes) each."""
        self.bulk([("POST", f"/proxies/{_seg(p)}/toxics",
                    {"name": n, "type": t, "stream": s, "toxicity": 1.0,
                     "attributes": dict(a)}) for p, n, t, s, a in items], "adding toxics")

    def remove_toxics(self, items: Sequence[tuple[str, str]]) -> None:
        """Remove many toxics: (proxy, name) each; missing ones are fine (idempotent)."""
        self.bulk([("DELETE", f"/proxies/{_seg(p)}/toxics/{_seg(n)}", None)
                   for p, n in items], "removing toxics", missing_ok=True)

    def set_enabled_many(self, names: Sequence[str], enabled: bool) -> None:
        """Enable or disable many proxies at once."""
        self.bulk([("PATCH", f"/proxies/{_seg(n)}", {"enabled": enabled}) for n in names],
                  "enabling proxies" if enabled else "disabling proxies")

    def toxics(self, proxy: str) -> list[Toxic]:
        """The toxics of one proxy."""
        data = self._json("GET", f"/proxies/{_seg(proxy)}/toxics", f"toxics of proxy {proxy!r}")
        return [Toxic.from_json(t) for t in data or ()]

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._call("POST", "/reset", "reset (enable all proxies, remove all toxics)")
