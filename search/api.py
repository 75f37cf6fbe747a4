"""``GET /api/search`` (contract §12): a thin view over ``search.selectors.search``."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chatr.serializers import error_responses
from search import selectors, services
from search.answers import answer_data
from search.serializers import SearchQuerySerializer, SearchResponseSerializer


class SearchView(APIView):
    authentication_classes = ()

    @extend_schema(
        summary="Search visible messages of the lobby and groups, newest first",
        parameters=[SearchQuerySerializer],
        responses={200: SearchResponseSerializer, **error_responses(400, 429, e400="invalid_input.")},
    )
    def get(self, request: Request) -> Response:
        services.count_search(client_ip=request._request.client_ip)  # type: ignore[attr-defined]
        results = selectors.search(params=request.query_params)
        return Response({"success": True, **answer_data(results)})
