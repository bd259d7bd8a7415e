"""vidpipe.timecode: one formatter per clock format, each named after what it writes."""

from __future__ import annotations

import pysubs2
from pysubs2.formats.webvtt import WebVTTFormat

from vidpipe.timecode import (
    chapter_timestamp,
    compact_duration,
    hms_colon,
    hms_ms,
    m_ss_tenths,
    mmss_ms,
    parse_clock,
    vtt_timestamp,
)

T = 3723.4567  # 1 h 2 min 3.4567 s


def test_each_format_on_one_time():
    assert hms_colon(T) == "1:02:03"
    assert hms_ms(T) == "1:02:03.457"
    assert mmss_ms(T) == "62:03.457"
    assert chapter_timestamp(T) == "1:02:03"
    assert vtt_timestamp(T) == "01:02:03.457"
    assert m_ss_tenths(T) == "1:02:03.5"
    assert compact_duration(T) == "1h"


def test_rounding_and_carry_across_units():
    # rounding carries into the next unit instead of writing 60 seconds or 1000 ms
    assert hms_colon(59.5) == "0:01:00" and hms_colon(3599.6) == "1:00:00"
    assert hms_ms(59.9996) == "0:01:00.000"
    assert vtt_timestamp(3599.9999) == "01:00:00.000"
    assert m_ss_tenths(59.96) == "1:00.0" and m_ss_tenths(5.04) == "0:05.0"
    # chapter timestamps truncate: a chapter at 59.999 s has not reached the minute
    assert chapter_timestamp(59.999) == "0:59" and chapter_timestamp(60.0) == "1:00"
    assert chapter_timestamp(0.0) == "0:00"


def test_none_negative_and_long_values():
    assert hms_colon(None) == hms_ms(None) == compact_duration(None) == "-"
    assert vtt_timestamp(-0.2) == "00:00:00.000"
    assert vtt_timestamp(100 * 3600 + 1.5) == "100:00:01.500"  # hours widen past 99
    assert hms_colon(26 * 3600) == "26:00:00"


def test_vtt_timestamp_matches_pysubs2_on_every_millisecond_edge():
    """The karaoke tags (vtt_timestamp) and pysubs2's cue times agree to the millisecond."""
    for ms in (0, 1, 999, 1000, 59_999, 60_000, 3_599_999, 3_600_000, 3_723_457):
        assert vtt_timestamp(ms / 1000) == WebVTTFormat.ms_to_timestamp(ms)
    subs = pysubs2.SSAFile()
    subs.append(pysubs2.SSAEvent(start=760, end=3_723_457, text="x"))
    assert f"{vtt_timestamp(0.76)} --> {vtt_timestamp(3723.457)}" in subs.to_string("vtt")


def test_compact_duration_units_truncate():
    assert [compact_duration(s) for s in (0, 9.9, 59, 60, 119, 3599, 3600, 86_399)] == [
        "0s",
        "9s",
        "59s",
        "1m",
        "1m",
        "59m",
        "1h",
        "23h",
    ]
    assert compact_duration(86_400 * 3 + 5) == "3d"
    assert compact_duration(-30) == "0s"  # another machine's clock a little ahead
    assert compact_duration(86_400 * 999) == "999d"


def test_parse_clock_reads_what_others_write():
    assert parse_clock("00:00:02.002000000") == 2.002  # a Matroska DURATION tag
    assert parse_clock("1:02:03.5") == 3723.5 and parse_clock(" 12:30 ") == 750.0
    assert parse_clock("75") == 75.0 and parse_clock("3.") == 3.0
    for bad in (None, "", "abc", "-1:00", "1:2:3:4", "1::2", ":30", "1:30 min"):
        assert parse_clock(bad) is None, bad
    # the round trip with the formatters
    assert parse_clock(hms_ms(T)) == 3723.457 and parse_clock(vtt_timestamp(61.5)) == 61.5
