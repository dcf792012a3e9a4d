"""``connect()``: a client on real Dialpad when an API key is set, else on an embedded sandbox.

Environment (read from ``environ``, default ``os.environ``):

=====================  ==================================================================
``DIALPAD_API_KEY``    set → talk to Dialpad with this key; unset → start an embedded sandbox
``DIALPAD_BASE_URL``   explicit API host (wins over ``DIALPAD_ENV``)
``DIALPAD_ENV``        ``sandbox`` → ``https://sandbox.dialpad.com``; ``live`` (default) →
                       ``https://dialpad.com``
=====================  ==================================================================

The embedded sandbox runs in a background thread on a free loopback port with a
simulated clock; the client's PATCH guard reads that same clock, so advancing
``client.sandbox.clock`` moves both. ``client.close()`` stops it.

With a key, the client says what it talks to (``client.kind``, ``client.capabilities``): a server
that is not Dialpad's own is asked once whether it has the sandbox's control API (a
``dialpad-nb sandbox`` does; then the client's clock is that sandbox's clock). The notebooks' own
arguments are never refused because a key is set: ``sandbox_options`` are ignored with a
:class:`SandboxOptionsIgnored` warning that says so.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .api.capabilities import DIALPAD_HOSTS, RemoteClock
from .api.client import DialpadClient
from .core.errors import ValidationError

__all__ = ["LIVE_URL", "SANDBOX_URL", "SandboxOptionsIgnored", "connect"]


class SandboxOptionsIgnored(UserWarning):
    """``connect(sandbox_options=...)`` with ``DIALPAD_API_KEY`` set: the options only shape an
    embedded sandbox, and no sandbox is started; they are ignored."""


LIVE_URL = "https://dialpad.com"
SANDBOX_URL = "https://sandbox.dialpad.com"
_ENVS = {"live": LIVE_URL, "production": LIVE_URL, "sandbox": SANDBOX_URL}


def connect(
    environ: Mapping[str, str] | None = None,
    *,
    sandbox_options: Mapping[str, Any] | None = None,
    allow_changes: bool = True,
    **kwargs: Any,
) -> DialpadClient:
    """A :class:`DialpadClient` on real Dialpad (``DIALPAD_API_KEY`` set) or on an embedded sandbox.

    ``kwargs`` go to :class:`DialpadClient` (e.g. ``timeout``, ``max_retries``; ``rate_limits=True``
    also makes an embedded sandbox enforce Dialpad's rate limits, as Dialpad does);
    ``sandbox_options`` go to :func:`dialpad_nb.sandbox.start_sandbox` (e.g. ``db_path``); with a key
    they are ignored, with a :class:`SandboxOptionsIgnored` warning. ``allow_changes=False`` makes a
    look-only client on a Dialpad account: it sends nothing that creates, changes or deletes (a
    sandbox always allows changes)."""
    env = os.environ if environ is None else environ
    key = (env.get("DIALPAD_API_KEY") or "").strip()
    if key:
        base_url = (env.get("DIALPAD_BASE_URL") or "").strip()
        if not base_url:
            name = (env.get("DIALPAD_ENV") or "live").strip().lower()
            if name not in _ENVS:
                raise ValidationError(
                    f"{name!r} is not an environment; use 'sandbox' or 'live'", field="DIALPAD_ENV"
                )
            base_url = _ENVS[name]
        client = DialpadClient(base_url=base_url, api_key=key, allow_changes=allow_changes, **kwargs)
        try:
            _describe(client, clock_given="clock" in kwargs, label_given="label" in kwargs)
        except BaseException:
            client.close()
            raise
        if sandbox_options:
            names = ", ".join(sorted(map(str, sandbox_options)))
            warnings.warn(
                SandboxOptionsIgnored(
                    f"sandbox_options ({names}) only shape an embedded sandbox; ignored, because "
                    f"DIALPAD_API_KEY is set and this client talks to {client.capabilities}."
                ),
                stacklevel=2,
            )
        return client

    from .sandbox import start_sandbox

    options = dict(sandbox_options or {})
    if (
        kwargs.get("rate_limits") is not None
    ):  # connect(rate_limits=True): the sandbox enforces what the client keeps
        options.setdefault("rate_limits", kwargs["rate_limits"])
    server = start_sandbox(**options)
    try:
        kwargs.setdefault("clock", server.clock)
        # pace like on Dialpad when the embedded sandbox enforces Dialpad's rate limits
        kwargs.setdefault("rate_limits", server.state.rate_limits)
        client = DialpadClient(
            base_url=server.url,
            api_key=server.api_key,
            label=f"<embedded sandbox at {server.url}>",
            allow_changes=allow_changes,
            **kwargs,
        )
    except BaseException:
        server.stop()
        raise
    client.attach_sandbox(server, owned=True)
    return client


def _describe(client: DialpadClient, *, clock_given: bool, label_given: bool) -> None:
    """Ask a server that is not Dialpad's own what it is (one request), and say it in the label; on a
    sandbox with a simulated clock, run the client (its PATCH guard) on that clock."""
    host = (urlsplit(client.base_url).hostname or "").lower()
    if host in DIALPAD_HOSTS:
        return
    caps = client.capabilities
    if not label_given:
        client.label = f"<{caps.kind} at {client.base_url}>"
    if caps.control_api and caps.simulated_clock and not clock_given:
        client.clock = RemoteClock(client.control)
