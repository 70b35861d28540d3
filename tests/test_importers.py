"""Each importer on good files and on the bad files people really upload."""

import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from lifelog.importers import ImportFailed, detect_format, parse_file
from tests.conftest import jpeg_with_exif

LONDON = ZoneInfo("Europe/London")


def parse(data: bytes, filename: str):
    return parse_file(data, filename=filename, file_format=detect_format(filename), tz=LONDON)


def issues_of(data: bytes, filename: str) -> list[str]:
    with pytest.raises(ImportFailed) as failure:
        parse(data, filename)
    return [str(issue) for issue in failure.value.issues]


# --- JSON ---------------------------------------------------------------------------------


def test_json_entries_with_all_fields_and_precisions():
    data = b"""{"entries": [
      {"when": "2025-05-03T14:30", "title": "Picnic", "description": "Sandwiches by the river",
       "place": {"name": "University Parks", "lat": 51.76, "lon": -1.25}, "people": ["Sarah", " Tom ", "Sarah"],
       "tags": ["family"]},
      {"when": "2025-06-01", "title": "Garden", "place": "home"},
      {"when": "2025-07", "title": "Holiday"},
      {"when": "2025-08-02T09:00:00+02:00", "title": "Flight"}
    ]}"""
    picnic, garden, holiday, flight = parse(data, "log.json")
    assert picnic.occurred_at == datetime(2025, 5, 3, 14, 30, tzinfo=LONDON)
    assert picnic.time_precision == "exact"
    assert (picnic.place_name, picnic.latitude, picnic.longitude) == ("University Parks", 51.76, -1.25)
    assert picnic.people == ["Sarah", "Tom"]  # trimmed, de-duplicated
    assert (garden.time_precision, garden.place_name, garden.latitude) == ("day", "home", None)
    assert (holiday.time_precision, holiday.occurred_at.day) == ("month", 1)
    assert flight.occurred_at.utcoffset().total_seconds() == 7200


def test_json_bare_list_is_accepted():
    assert len(parse(b'[{"when": "2025-05-03", "title": "A"}]', "log.json")) == 1


def test_json_errors_name_the_entry_and_field():
    data = b'{"entries": [{"when": "2025-13-45", "title": "A"}, {"when": "2025-01-01", "title": "", "mood": 3}]}'
    issues = issues_of(data, "log.json")
    assert any("log.json, field 'entries[0].when'" in i and "has month 13" in i for i in issues)
    assert any("field 'entries[1].title': must not be empty" in i for i in issues)
    assert any("field 'entries[1].mood': unknown field" in i for i in issues)


def test_json_syntax_error_names_the_line():
    issues = issues_of(b'{"entries": [\n{"when": "2025-01-01",\n "title": "A",,}\n]}', "broken.json")
    assert issues == [issues[0]] and "broken.json, line 3" in issues[0] and "not valid JSON" in issues[0]


def test_json_coordinates_checked():
    data = b'[{"when": "2025-01-01", "title": "A", "place": {"name": "X", "lat": 123, "lon": 5}}]'
    assert any("entries[0].place.lat" in i and "outside -90..90" in i for i in issues_of(data, "x.json"))


def test_html_and_script_are_kept_as_text():
    data = b'[{"when": "2025-01-01", "title": "<script>alert(1)</script>", "description": "<b>bold</b> & more"}]'
    (entry,) = parse(data, "x.json")
    assert entry.title == "<script>alert(1)</script>"
    assert entry.description == "<b>bold</b> & more"


# --- CSV ----------------------------------------------------------------------------------


def test_csv_rows_with_lists_and_separate_time():
    data = (
        b"date,time,title,description,place,latitude,longitude,people,tags\n"
        b'2025-05-03,14:30,Picnic,"Sandwiches, cake",Parks,51.76,-1.25,Sarah;Tom,family;outdoors\n'
        b"2025-06-01,,Garden,,,,,,\n"
    )
    picnic, garden = parse(data, "log.csv")
    assert picnic.occurred_at == datetime(2025, 5, 3, 14, 30, tzinfo=LONDON)
    assert picnic.description == "Sandwiches, cake"
    assert picnic.people == ["Sarah", "Tom"] and picnic.tags == ["family", "outdoors"]
    assert garden.time_precision == "day"


def test_csv_with_utf8_bom_and_only_required_columns():
    (entry,) = parse("\ufeffdate,title\n2025-05-03,Café visit\n".encode(), "log.csv")
    assert entry.title == "Café visit"


def test_csv_unknown_and_missing_columns():
    issues = issues_of(b"date,headline,mood\n2025-05-03,Picnic,happy\n", "log.csv")
    assert "log.csv, line 1, field 'headline': unknown column" in issues[0]
    assert any("field 'mood': unknown column" in i for i in issues)
    assert any("field 'title': required column is missing" in i for i in issues)


def test_csv_bad_date_names_row_and_field():
    issues = issues_of(b"date,title\n2025-05-03,Fine\n03/05/2025,Bad\n2025-05-04,\n", "log.csv")
    assert any("log.csv, line 3, field 'date'" in i and "'03/05/2025' is not a date" in i for i in issues)
    assert any("log.csv, line 4, field 'title': must not be empty" in i for i in issues)


def test_csv_wrong_cell_count():
    issues = issues_of(b"date,title\n2025-05-03,Picnic,extra\n", "log.csv")
    assert "line 2" in issues[0] and "3 cells; the header has 2" in issues[0]


def test_csv_wrong_encoding_names_the_line():
    data = "date,title\n2025-05-03,Picnic\n2025-05-04,Caf\u00e9\n".encode("latin-1")
    (issue,) = issues_of(data, "log.csv")
    assert "log.csv, line 3" in issue and "not UTF-8" in issue


def test_csv_header_only():
    assert "header but no entries" in issues_of(b"date,title\n", "log.csv")[0]


# --- iCalendar ----------------------------------------------------------------------------

ICS = b"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Test//EN
BEGIN:VEVENT
UID:evt-1
DTSTART:20250503T133000Z
SUMMARY:Concert
DESCRIPTION:Brahms at the town hall
LOCATION:Town Hall
GEO:51.75;-1.26
ATTENDEE;CN=Joan Smith:mailto:joan@example.org
CATEGORIES:music,friends
END:VEVENT
BEGIN:VEVENT
UID:evt-2
DTSTART;VALUE=DATE:20250601
SUMMARY:Sarah's birthday
END:VEVENT
END:VCALENDAR
"""


def test_ics_events():
    concert, birthday = parse(ICS, "cal.ics")
    assert concert.occurred_at == datetime(2025, 5, 3, 13, 30, tzinfo=ZoneInfo("UTC"))
    assert concert.time_precision == "exact"
    assert (concert.place_name, concert.latitude, concert.longitude) == ("Town Hall", 51.75, -1.26)
    assert concert.people == ["Joan Smith"] and concert.tags == ["music", "friends"]
    assert (birthday.time_precision, birthday.occurred_at.date().isoformat()) == ("day", "2025-06-01")


def test_ics_not_a_calendar():
    (issue,) = issues_of(b"date,title\n2025-01-01,A\n", "cal.ics")
    assert "cal.ics: not a calendar" in issue


def test_ics_event_without_start_or_summary():
    data = ICS.replace(b"DTSTART;VALUE=DATE:20250601\n", b"").replace(b"SUMMARY:Concert\n", b"")
    issues = issues_of(data, "cal.ics")
    assert any("VEVENT 1 (UID evt-1).SUMMARY': must not be empty" in i for i in issues)
    assert any("VEVENT 2 (UID evt-2).DTSTART': an event needs a start" in i for i in issues)


# --- diary text ---------------------------------------------------------------------------


def test_diary_paragraphs():
    data = b"""2025-05-03: Went to the market with Sarah. Bought plums.
It rained in the afternoon.

2025-05-04 18:15
Dinner at the Blue Door.

4 June 2025
Long walk by the river.
"""
    market, dinner, walk = parse(data, "diary.txt")
    assert market.title == "Went to the market with Sarah."
    assert market.description.endswith("It rained in the afternoon.")
    assert market.time_precision == "day"
    assert dinner.occurred_at == datetime(2025, 5, 4, 18, 15, tzinfo=LONDON) and dinner.time_precision == "exact"
    assert walk.occurred_at.date().isoformat() == "2025-06-04"


def test_diary_text_before_first_date_and_bad_date():
    issues = issues_of(b"Dear diary,\n2025-02-30\nA day that does not exist.\n", "diary.txt")
    assert "diary.txt, line 1: text before the first date line" in issues[0]
    assert any("line 2, field 'date': '2025-02-30' is not a valid date" in i for i in issues)


def test_diary_date_without_text():
    assert "a date with no text after it" in issues_of(b"2025-05-03\n\n2025-05-04 Walk\n", "diary.txt")[0]


# --- photos -------------------------------------------------------------------------------


def test_jpeg_exif_time_and_gps():
    (photo,) = parse(jpeg_with_exif(), "Beach_day.jpg")
    assert photo.occurred_at == datetime(2025, 5, 3, 14, 30, tzinfo=LONDON)
    assert photo.latitude == pytest.approx(51.752) and photo.longitude == pytest.approx(-1.2577)
    assert photo.title == "Beach day" and photo.photo_bytes


def test_jpeg_without_gps_still_imports():
    (photo,) = parse(jpeg_with_exif(gps=False), "x.jpg")
    assert photo.latitude is None


def test_jpeg_without_exif_time():
    assert "no EXIF capture time" in issues_of(jpeg_with_exif(when=None), "x.jpg")[0]


def test_png_named_jpg_and_garbage():
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "PNG")
    assert "only JPEG photos" in issues_of(buffer.getvalue(), "x.jpg")[0]
    assert "not a readable image" in issues_of(b"not an image at all", "x.jpeg")[0]


# --- all formats --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["empty.json", "empty.csv", "empty.ics", "empty.txt"])
def test_empty_files(name):
    assert issues_of(b"  \n", name) == [f"{name}: the file is empty"]


def test_unsupported_extension():
    with pytest.raises(ImportFailed, match=r"unsupported file type '\.xlsx'"):
        detect_format("log.xlsx")


# --- Errors that explain themselves ---------------------------------------------------------


def test_a_date_in_the_right_form_that_does_not_exist_is_called_so():
    (issue,) = issues_of(b'[{"when": "2026-02-30", "title": "Walk"}]', "log.json")
    assert "'2026-02-30' does not exist: February 2026 has 28 days" in issue and "not a date in the form" not in issue
    (issue,) = issues_of(b"date,title\n2026-13-01,Walk\n", "log.csv")
    assert "has month 13; months go from 01 to 12" in issue
    (issue,) = issues_of(b'[{"when": "03/05/2026", "title": "Walk"}]', "log.json")
    assert "not a date in the form YYYY-MM-DD" in issue


def test_broken_calendars_are_explained_in_plain_words():
    cut_off = ICS[: ICS.index(b"END:VEVENT")]
    (issue,) = issues_of(cut_off, "cal.ics")
    assert "BEGIN:VEVENT is never closed (END:VEVENT is missing): the file may be cut off" in issue
    assert "Found no components" not in issue and "line 4" in issue
    broken_line = ICS.replace(b"SUMMARY:Concert", b"SUMMARY Concert")
    assert any("a line could not be read: 'SUMMARY Concert'" in i for i in issues_of(broken_line, "cal.ics"))


def test_after_fifty_problems_the_rest_are_counted():
    issues = issues_of(b"date,title\n" + b"2026-02-30,Walk\n" * 73, "log.csv")
    assert len(issues) == 51 and issues[-1] == "log.csv: and 23 more problems not listed: fix these and upload again"


def test_unknown_fields_and_columns_that_look_like_known_ones_get_a_hint():
    issues = issues_of(b'[{"date": "2025-05-03", "title": "Walk", "text": "Sunny", "peple": ["Ann"]}]', "log.json")
    assert any("field 'entries[0].date': unknown field. Did you mean 'when'?" in i for i in issues)
    assert any("field 'entries[0].text': unknown field. Did you mean 'description'?" in i for i in issues)
    assert any("'entries[0].peple': unknown field. Did you mean 'people'?" in i for i in issues)
    issues = issues_of(b"when,title,location\n2025-05-03,Walk,Park\n", "log.csv")
    assert any("field 'when': unknown column. Did you mean 'date'?" in i for i in issues)
    assert any("field 'location': unknown column. Did you mean 'place'?" in i for i in issues)
