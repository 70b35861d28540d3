"""API pagination with bounds: a limit or offset beyond PostgreSQL's integers would be a server error."""

from rest_framework.pagination import LimitOffsetPagination

MAX_OFFSET = 2**31 - 1


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = 1000  # a larger page is the export's job

    def get_offset(self, request) -> int:
        return min(super().get_offset(request), MAX_OFFSET)
