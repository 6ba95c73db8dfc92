"""Shapes of names and code references, shared by the API serializers and the services."""

from __future__ import annotations

import re

from django.core.validators import RegexValidator

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
