"""`ec`, the ElasticCode command line: the seed's `pyfi` commands over the REST API, with a token.

Django-free like the rest of flows.client. main.py holds the root group, the global options and the exit codes;
one module per command group (add, ls, update, delete, proc, task, flow, auth, scheduler). Objects are addressed by
name (resolve.py); tables are for people and `--json` for scripts (output.py).
"""
