"""The cluster tests start real agents, as the runtime tests do."""

from tests.runtime.conftest import code_dir, runtime, sink_repo  # noqa: F401  (fixtures shared with the runtime tests)
