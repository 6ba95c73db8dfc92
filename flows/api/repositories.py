"""GET /api/repositories/: the trusted list, for the designer's palette and anyone writing a processor."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from flows.selectors.trusted import trusted_repositories


class TrustedRepositorySerializer(serializers.Serializer):
    pattern = serializers.CharField(help_text="fnmatch pattern of git URLs processors may load code from")
    note = serializers.CharField()
    origin = serializers.ChoiceField(choices=["settings", "admin"], help_text="ELASTICCODE_TRUSTED_REPOS or the admin")
    browsable = serializers.BooleanField(help_text="names one repository (no wildcard): browse it as it stands")


class TrustedRepositoriesView(APIView):
    """The patterns of git URLs processors may load code from (any signed-in user: it is what they may use)."""

    @extend_schema(responses={200: TrustedRepositorySerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(trusted_repositories())
