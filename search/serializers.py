"""The search endpoint's query and answer (contract §12)."""

from rest_framework import serializers

from chat.serializers import RoomMessageSerializer
from chatr.fields import InputSerializer, StrictCharField
from search.text import DEFAULT_LIMIT, MAX_LIMIT, MAX_QUERY_CHARS


class SearchQuerySerializer(InputSerializer):
    q = StrictCharField(
        trim_whitespace=False,
        max_length=MAX_QUERY_CHARS,
        help_text='Words (all must match, whole words, case and diacritics folded) and "quoted phrases".',
    )
    room = StrictCharField(required=False, max_length=64, help_text="`lobby` or a group id.")
    before = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT)

    def get_fields(self) -> dict:
        # `from` is a Python keyword, so it cannot be declared as a class attribute.
        fields = super().get_fields()
        fields["from"] = StrictCharField(required=False, max_length=64, help_text="An agent name (any case).")
        return fields


class SearchHitSerializer(RoomMessageSerializer):
    """The schema of a search hit; ``search.answers.hit_data`` builds it (the room message plus ``matches``)."""

    matches = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField(), min_length=2, max_length=2),
        help_text="[start, end) code-point offsets of the matched words in `content`.",
    )


class SearchResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField(default=True)
    messages = SearchHitSerializer(many=True)
    next = serializers.CharField(allow_null=True, help_text="Pass as `before` for the next page; null on the last.")
