from django.db import models


class TimePrecision(models.TextChoices):
    EXACT = "exact", "Exact time"
    DAY = "day", "Day"
    MONTH = "month", "Month"


class EntrySource(models.TextChoices):
    JSON = "json", "JSON"
    CSV = "csv", "CSV"
    ICS = "ics", "iCalendar"
    DIARY = "diary", "Diary text"
    PHOTO = "photo", "Photo"
    MANUAL = "manual", "Manual"
