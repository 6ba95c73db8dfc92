"""Error reports (Django's DEBUG page, the admins' error mails) that never show a password.

Django's SafeExceptionReporterFilter hides settings by name (KEY, SECRET, PASS …), but the platform's connection
settings are URLs with the password inside (DATABASE_URL, REDIS_URL, CELERY_BROKER_URL, CHANNEL_LAYERS' hosts), and
the same URLs turn up in frame variables and exception messages. So the filter also hides those settings by name,
and the reporter masks the password of every `scheme://user:password@host` in what it renders, wherever it came
from. Every settings module uses both (DEFAULT_EXCEPTION_REPORTER*, base.py).
"""

from __future__ import annotations

import re
from typing import Any

from django.utils.safestring import SafeString, mark_safe
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

# scheme://[user]:password@  →  scheme://[user]:********@
_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<password>[^@/\s]+)@")


def mask_credentials(text: str) -> str:
    return _CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:********@", text)


class CredentialMaskingFilter(SafeExceptionReporterFilter):
    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|DATABASE_URL|REDIS_URL|BROKER|CHANNEL_LAYERS|CACHES",
        flags=re.IGNORECASE,
    )

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> Any:
        """Frame variables named like secrets (`password`, `token`) are hidden as settings are, without the
        @sensitive_variables every function holding one would otherwise need."""
        return [
            (name, self.cleansed_substitute if self.hidden_settings.search(name) else value)
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]


class CredentialMaskingReporter(ExceptionReporter):
    # Masking swaps characters of a password for '*' in text that was safe already: it stays safe.
    def get_traceback_html(self) -> SafeString:
        return mark_safe(mask_credentials(super().get_traceback_html()))

    def get_traceback_text(self) -> SafeString:
        return mark_safe(mask_credentials(super().get_traceback_text()))
