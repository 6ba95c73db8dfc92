"""Shapes of names and code references, shared by the API serializers and the services."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

from backend import jsonlimits

NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:\-]{0,199}$")
MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
FUNCTION_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

address_name = RegexValidator(
    NAME_RE,
    "Use letters, digits, '_', '.', ':' or '-' (no spaces), starting with a letter, digit or '_'; "
    "the CLI and the SDK address this object by name.",
)
module_path = RegexValidator(MODULE_RE, "Give a dotted Python module path such as 'ext.sample'.")
function_name = RegexValidator(FUNCTION_RE, "Give a Python function name such as 'do_something'.")


def replicas_problem(replicas: int, replicas_max: int) -> str | None:
    """What is wrong with a processor's replica bound, or None: 0 (off) or more replicas than `replicas`."""
    if replicas_max and replicas_max <= replicas:
        return (
            f"Give 0 for a fixed number of replicas, or more than replicas ({replicas}): placement adds replicas "
            f"while messages pile up, from replicas up to replicas_max."
        )
    return None


def autoscale_problem(concurrency: int, autoscale_max: int) -> str | None:
    """What is wrong with a processor's autoscale bound, or None: 0 (off) or more slots than `concurrency`."""
    if autoscale_max and autoscale_max <= concurrency:
        return (
            f"Give 0 for a fixed pool, or more than the concurrency ({concurrency}): the autoscaler grows the worker "
            f"from concurrency slots up to autoscale_max."
        )
    return None


def storable_json(value: Any) -> None:
    """A JSON value PostgreSQL can store (the model's JSONFields and the API's inputs for them): its jsonb holds no
    NUL (\\u0000) and no lone surrogate, in a string or a key (backend/jsonlimits.py)."""
    where = jsonlimits.find_nul(value)
    if where is not None:
        raise ValidationError(f"Holds NUL (\\u0000) at {where or 'its top'}, which cannot be stored; remove it.")
    where = jsonlimits.lone_surrogate(value)
    if where is not None:
        raise ValidationError(
            f"Holds a lone surrogate at {where or 'its top'} (half of a UTF-16 pair), which is not text; remove it."
        )
