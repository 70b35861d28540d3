"""Reads of the life log, always within one participant the caller may see."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import User
from studies.models import Participant
from studies.selectors import participant_list

from .embeddings import embed_texts
from .models import ImportJob, LifeLogEntry

MAX_K = 100


def entry_list(*, participant: Participant, include_excluded: bool = True) -> QuerySet[LifeLogEntry]:
    qs = LifeLogEntry.objects.filter(participant=participant).defer("embedding")
    if not include_excluded:
        qs = qs.filter(excluded=False)
    return qs


def entry_get(*, user: User, entry_id: int) -> LifeLogEntry:
    try:
        return LifeLogEntry.objects.defer("embedding").get(pk=entry_id, participant__in=participant_list(user=user))
    except LifeLogEntry.DoesNotExist:
        raise Http404("No such entry") from None


def import_job_list(*, participant: Participant) -> QuerySet[ImportJob]:
    return ImportJob.objects.filter(participant=participant)


def import_job_get(*, user: User, job_id: int) -> ImportJob:
    """Imports are the researchers' business: a trainee sees their entries, not the jobs behind them."""
    if not user.is_researcher:
        raise Http404("No such import")
    try:
        return ImportJob.objects.get(pk=job_id, participant__in=participant_list(user=user))
    except ImportJob.DoesNotExist:
        raise Http404("No such import") from None


@dataclass(frozen=True)
class SearchFilters:
    date_from: datetime | None = None
    date_to: datetime | None = None
    person: str = ""
    place: str = ""
    include_excluded: bool = False


# The participant's rows are filtered first (MATERIALIZED) and ranked exactly; only the k nearest
# are joined back for their columns. An HNSW scan with
# a participant filter applied afterwards can return fewer than k rows (pgvector 0.6 has no
# iterative scan), and one participant's log is small enough for an exact ranking to stay fast.
_SEARCH_SQL = """
WITH candidates AS MATERIALIZED (
    SELECT id, embedding <=> %(query)s::vector AS distance FROM lifelog_lifelogentry
    WHERE participant_id = %(participant)s AND embedding IS NOT NULL {conditions}
), nearest AS (
    SELECT id, distance FROM candidates ORDER BY distance, id LIMIT %(k)s
)
SELECT {columns}, nearest.distance
FROM nearest JOIN lifelog_lifelogentry e ON e.id = nearest.id
ORDER BY nearest.distance, e.id
"""
# Every column but the 384-float embedding, which callers of search never need.
_RESULT_COLUMNS = ", ".join(
    f"e.{field.column}" for field in LifeLogEntry._meta.concrete_fields if field.name != "embedding"
)


def entry_search(
    *, participant: Participant, query: str, k: int = 10, filters: SearchFilters | None = None
) -> list[LifeLogEntry]:
    """Entries of this participant closest in meaning to the query; each carries .distance."""
    filters = filters or SearchFilters()
    k = max(1, min(int(k), MAX_K))
    vector = embed_texts([query])[0]
    conditions, params = [], {"participant": participant.pk, "k": k, "query": "[" + ",".join(map(str, vector)) + "]"}
    if not filters.include_excluded:
        conditions.append("excluded = false")
    if filters.date_from:
        conditions.append("occurred_at >= %(date_from)s")
        params["date_from"] = filters.date_from
    if filters.date_to:
        conditions.append("occurred_at < %(date_to)s")
        params["date_to"] = filters.date_to
    if filters.person:
        conditions.append("EXISTS (SELECT 1 FROM unnest(people) AS p WHERE lower(p) = lower(%(person)s))")
        params["person"] = filters.person.strip()
    if filters.place:
        conditions.append("place_name ILIKE %(place)s")
        params["place"] = "%" + filters.place.strip().replace("%", r"\%").replace("_", r"\_") + "%"
    sql = _SEARCH_SQL.format(conditions="".join(f" AND {c}" for c in conditions), columns=_RESULT_COLUMNS)
    return list(LifeLogEntry.objects.raw(sql, params))
