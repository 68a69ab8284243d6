from __future__ import annotations

from django.http import Http404, HttpResponse


def home(request):
    return HttpResponse("SSO connection manager is up.")


def sign_in(request):
    raise Http404


def sign_out(request):
    raise Http404


def metadata(request, name):
    raise Http404


def login(request, name):
    raise Http404


def acs(request, name):
    raise Http404
