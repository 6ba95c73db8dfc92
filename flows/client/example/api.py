"""The seed's `pyfi.client.example.api`: socket proxies for the demo flow's do_something and do_this.

    from flows.client import parallel, pipeline, funnel
    from flows.client.example.api import do_something_p as do_something

`make run` installs the demo flow (sockets do_something and do_this of examples/sample); log in first with
`ec login --url http://127.0.0.1:8000` (or set ELASTICCODE_URL and ELASTICCODE_TOKEN). The names can be changed
with ELASTICCODE_EXAMPLE_FLOW (a flow name) when several flows you see have these sockets.
"""

from __future__ import annotations

import os

from flows.client.objects import Socket

_flow = os.environ.get("ELASTICCODE_EXAMPLE_FLOW") or None

do_something_p = Socket(name="do_something", flow=_flow)
do_this_p = Socket(name="do_this", flow=_flow)
