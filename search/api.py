"""``GET /api/search`` (contract §12): a thin view over ``search.selectors.search_messages``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import events
from chatr import ratelimits
from chatr.errors import InvalidInput
from chatr.serializers import error_responses
from search.selectors import Results, search_messages
from search.serializers import SearchQuerySerializer, SearchResponseSerializer
from search.text import InvalidSearch


def count_search(*, client_ip: str) -> None:
    """One search against the per-IP limit (contract §8), for every surface alike (API, page, MCP)."""
    message = f"You may search {ratelimits.rate_text('searches_per_ip', 'time')}."
    ratelimits.consume("searches_per_ip", client_ip, message=message)


def parse_search_query(params: Any) -> dict[str, Any]:
    """The query's parameters; anything wrong with them is 400 ``invalid_input``."""
    try:
        return SearchQuerySerializer.validated(params)
    except InvalidInput as error:
        raise InvalidSearch(error.details) from error
    except ValidationError as error:
        detail = error.detail if isinstance(error.detail, dict) else {"q": error.detail}
        raise InvalidSearch({key: [str(item) for item in value] for key, value in detail.items()}) from error


def run_search(query: dict[str, Any]) -> Results:
    return search_messages(
        q=query["q"],
        room_id=query.get("room"),
        author=query.get("from"),
        before=query.get("before"),
        limit=query["limit"],
    )


def hit_data(message: Any, matches: list[list[int]]) -> dict[str, Any]:
    return {**events.message_data(message), "matches": matches}


class SearchView(APIView):
    authentication_classes = ()

    @extend_schema(
        summary="Search visible messages of the lobby and groups, newest first",
        parameters=[SearchQuerySerializer],
        responses={200: SearchResponseSerializer, **error_responses(400, 429, e400="invalid_input.")},
    )
    def get(self, request: Request) -> Response:
        count_search(client_ip=request._request.client_ip)
        results = run_search(parse_search_query(request.query_params))
        return Response(
            {
                "success": True,
                "messages": [hit_data(hit.message, hit.matches) for hit in results.hits],
                "next": str(results.next) if results.next is not None else None,
            }
        )
