from flows.models.call import Call, CallStatus
from flows.models.flow import Flow, FlowGroupObjectPermission, FlowUserObjectPermission
from flows.models.maprun import MapReduce, MapRun
from flows.models.plug import Plug, PlugKind
from flows.models.processor import (
    Processor,
    ProcessorGroupObjectPermission,
    ProcessorUserObjectPermission,
    RequestedStatus,
    Status,
)
from flows.models.queue import Queue
from flows.models.snapshot import FlowSnapshot
from flows.models.socket import Socket
from flows.models.trusted import TrustedRepository

__all__ = [
    "Call",
    "CallStatus",
    "Flow",
    "FlowGroupObjectPermission",
    "FlowSnapshot",
    "FlowUserObjectPermission",
    "MapReduce",
    "MapRun",
    "Plug",
    "PlugKind",
    "Processor",
    "ProcessorGroupObjectPermission",
    "ProcessorUserObjectPermission",
    "Queue",
    "RequestedStatus",
    "Socket",
    "Status",
    "TrustedRepository",
]
