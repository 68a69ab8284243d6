"""A person's own profile over OAuth (scope ``profile``): what a personal token is for."""

from __future__ import annotations

from oauth2_provider.contrib.rest_framework import TokenHasScope
from rest_framework.response import Response
from rest_framework.views import APIView

from core.authentication import HeaderBearerAuthentication


class MeView(APIView):
    authentication_classes = [HeaderBearerAuthentication]
    permission_classes = [TokenHasScope]
    required_scopes = ["profile"]

    def get(self, request):
        user = request.user
        return Response(
            {
                "email": user.email,
                "name": user.full_name,
                "company": user.company.slug if user.company else None,
                "role": user.role,
                "team": user.team.name if user.team else None,
            }
        )
