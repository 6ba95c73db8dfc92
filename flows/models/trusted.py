from __future__ import annotations

from django.db import models


class TrustedRepository(models.Model):
    """An admin-editable allow-list entry: processors may load code from git URLs matching `pattern` (fnmatch)."""

    pattern = models.CharField(max_length=1000, unique=True)
    note = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pattern"]
        verbose_name_plural = "trusted repositories"

    def __str__(self) -> str:
        return self.pattern
