"""The execution engine: code loading (repos, venvs), the executor (host + stdlib runner), the socket task and
router, lineage, and the worker and agent processes. See DESIGN.md §2, §4 and §5."""
