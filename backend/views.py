from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def home(request: HttpRequest) -> HttpResponse:
    """The landing page; the flow designer (frontend/) replaces it once built."""
    return render(request, "home.html")
