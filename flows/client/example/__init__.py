"""Example bindings for the seed's programs (flows/client/example/api.py)."""
