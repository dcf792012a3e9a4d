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
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .api.client import DialpadClient
from .core.errors import ValidationError

__all__ = ["LIVE_URL", "SANDBOX_URL", "connect"]

LIVE_URL = "https://dialpad.com"
SANDBOX_URL = "https://sandbox.dialpad.com"
_ENVS = {"live": LIVE_URL, "production": LIVE_URL, "sandbox": SANDBOX_URL}


def connect(
    environ: Mapping[str, str] | None = None,
    *,
    sandbox_options: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> DialpadClient:
    """A :class:`DialpadClient` on real Dialpad (``DIALPAD_API_KEY`` set) or on an embedded sandbox.

    ``kwargs`` go to :class:`DialpadClient` (e.g. ``timeout``, ``max_retries``; ``rate_limits=True``
    also makes an embedded sandbox enforce Dialpad's rate limits, as Dialpad does);
    ``sandbox_options`` go to :func:`dialpad_nb.sandbox.start_sandbox` (e.g. ``db_path``)."""
    env = os.environ if environ is None else environ
    key = (env.get("DIALPAD_API_KEY") or "").strip()
    if key:
        if sandbox_options:
            raise ValidationError(
                "only used for the embedded sandbox (DIALPAD_API_KEY is set)", field="sandbox_options"
            )
        base_url = (env.get("DIALPAD_BASE_URL") or "").strip()
        if not base_url:
            name = (env.get("DIALPAD_ENV") or "live").strip().lower()
            if name not in _ENVS:
                raise ValidationError(
                    f"{name!r} is not an environment; use 'sandbox' or 'live'", field="DIALPAD_ENV"
                )
            base_url = _ENVS[name]
        return DialpadClient(base_url=base_url, api_key=key, **kwargs)

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
            base_url=server.url, api_key=server.api_key, label=f"<embedded sandbox at {server.url}>", **kwargs
        )
    except BaseException:
        server.stop()
        raise
    client.attach_sandbox(server, owned=True)
    return client
