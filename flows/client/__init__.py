"""The ElasticCode Python SDK: no Django, only HTTP to a server's REST API with a token.

    from flows.client import Client, Processor, Socket, Queue, pipeline, parallel, funnel

See flows/client/compose.py for the semantics of pipeline, parallel and funnel, and flows/client/objects.py for
the get-or-create objects. `ec` (flows/client/cli) is the command line over the same client.
"""

from __future__ import annotations

from flows.client.client import Client, default_client, set_default_client
from flows.client.compose import Call, Result, funnel, parallel, pipeline
from flows.client.errors import ApiError, CallFailed, CallTimeout, ClientError, NotConfigured, Unreachable
from flows.client.objects import Processor, Queue, Socket
from flows.client.runs import MapRun, tap

__all__ = [
    "ApiError",
    "Call",
    "CallFailed",
    "CallTimeout",
    "Client",
    "ClientError",
    "MapRun",
    "NotConfigured",
    "Processor",
    "Queue",
    "Result",
    "Socket",
    "Unreachable",
    "default_client",
    "funnel",
    "parallel",
    "pipeline",
    "set_default_client",
    "tap",
]
