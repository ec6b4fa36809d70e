"""Placeholders in a user's node command, environment, probes and config files (``{host}``,
``{ports.NAME}``, ``{data_dir}``, ``{nodes.OTHER.*}``, ``{links.OTHER.*}``; see the README's
scenario reference)."""

from __future__ import annotations

import shlex
import string
from types import SimpleNamespace
from typing import Any

from harness.errors import ConfigError
from testbeds.spec import NodeSpec

Address = tuple[str, dict[str, int]]


class _Strict(string.Formatter):
    """str.format that reports unknown placeholders by name instead of raising KeyError, and
    shell-quotes each substituted value when asked (a path with spaces stays one argument)."""

    def __init__(self, quote: bool = False) -> None:
        super().__init__()
        self.quote = quote

    def format_field(self, value: Any, format_spec: str) -> Any:
        out = super().format_field(value, format_spec)
        return shlex.quote(str(out)) if self.quote else out

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        try:
            return super().get_field(field_name, args, kwargs)
        except (KeyError, AttributeError) as exc:
            raise ConfigError(
                f"placeholder {{{field_name}}} is unknown ({exc}); use {{host}}, {{ports.NAME}}, "
                "{data_dir}, {nodes.OTHER.host}, {nodes.OTHER.ports.NAME}, "
                "{links.OTHER.host} or {links.OTHER.ports.NAME}"
            ) from None


def render_command(node: NodeSpec, template: str, *, host: str, ports: dict[str, int],
                   data_dir: str, nodes: dict[str, Address],
                   links: dict[str, Address], quote: bool = False,
                   field: str = "command") -> str:
    """Fill a user command's placeholders for one node (``quote``: each value shell-quoted,
    for a command line that is split into arguments; ``field``: where the template came
    from, e.g. ``files.mosquitto.conf``, named in an error)."""
    def ns(addr: Address) -> SimpleNamespace:
        return SimpleNamespace(host=addr[0], ports=SimpleNamespace(**addr[1]))

    values = {
        "host": host,
        "ports": SimpleNamespace(**ports),
        "data_dir": data_dir,
        "nodes": SimpleNamespace(**{k: ns(v) for k, v in nodes.items()}),
        "links": SimpleNamespace(**{k: ns(v) for k, v in links.items()}),
        "name": node.name,
    }
    try:
        return _Strict(quote).format(template, **values)
    except ConfigError as exc:
        raise ConfigError(f"testbed.nodes[{node.name}].{field}: {exc}") from None
    except (ValueError, IndexError) as exc:
        raise ConfigError(
            f"testbed.nodes[{node.name}].{field}: {exc}; write literal braces as {{{{ and }}}}"
        ) from None
