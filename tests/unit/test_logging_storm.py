"""Storm control rules, driven by a fake clock (no sleeping, no network)."""

from __future__ import annotations

import logging

import pytest

from logging_handler.alert import Alert
from logging_handler.storm import Fingerprint, Observed, Outgoing, StormControl, fingerprint


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def key(line: int = 1, name: str = "app", exc: str | None = None) -> Fingerprint:
    return (name, logging.ERROR, "app.py", line, exc)


def alert(msg: str = "boom", line: int = 1) -> Alert:
    return Alert(
        name="app",
        levelno=logging.ERROR,
        levelname="ERROR",
        pathname="app.py",
        lineno=line,
        func_name="f",
        created=0.0,
        process=1,
        thread_name="MainThread",
        message=msg,
    )


def log(storm: StormControl, k: Fingerprint, msg: str = "boom", created: float = 0.0) -> Observed:
    observed = storm.observe(k, created)
    if observed & Observed.NEEDS_SAMPLE:
        storm.attach(k, alert(msg, k[3]))
    return observed


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_first_record_of_a_group_goes_out_alone_and_promptly(clock: FakeClock) -> None:
    storm = StormControl(digest_window=60, clock=clock)
    assert log(storm, key()) == Observed.NEEDS_SAMPLE_PROMPT
    [mail] = storm.collect()
    assert mail.kind == "alert"
    assert mail.count == 1
    assert mail.groups[0].sample.message == "boom"
    assert storm.collect() == []


def test_repeats_inside_the_window_fold_into_one_digest_with_counts_and_times(clock: FakeClock) -> None:
    storm = StormControl(digest_window=60, clock=clock)
    log(storm, key(), created=100.0)
    storm.collect()
    for i in range(1, 500):
        clock.advance(0.1)
        assert log(storm, key(), msg=f"repeat {i}", created=100.0 + i) in (Observed.COUNTED, Observed.NEEDS_SAMPLE)
    assert storm.collect() == []  # window still open: nothing goes out
    assert storm.next_due() == pytest.approx(1060.0)
    clock.advance(60)
    [digest] = storm.collect()
    assert digest.kind == "digest"
    [group] = digest.groups
    assert group.count == 499
    assert (group.first, group.last) == (101.0, 599.0)
    assert group.sample.message == "repeat 1"  # one sample: the first of the window
    assert group.total == 500


def test_a_group_quiet_for_a_whole_window_starts_over_with_a_prompt_alert(clock: FakeClock) -> None:
    storm = StormControl(digest_window=60, clock=clock)
    log(storm, key())
    storm.collect()
    clock.advance(61)
    assert log(storm, key()) & Observed.PROMPT
    [mail] = storm.collect()
    assert mail.kind == "alert"


def test_one_digest_covers_every_waiting_group(clock: FakeClock) -> None:
    storm = StormControl(digest_window=60, clock=clock)
    for line in (1, 2, 3):
        log(storm, key(line))
    assert [m.kind for m in storm.collect()] == ["alert", "alert", "alert"]
    for line in (1, 2, 3):
        for _ in range(line * 10):
            log(storm, key(line))
    clock.advance(60)
    [digest] = storm.collect()
    assert sorted(g.count for g in digest.groups) == [10, 20, 30]


def test_force_sends_folded_repeats_before_the_window_ends(clock: FakeClock) -> None:
    storm = StormControl(digest_window=3600, clock=clock)
    log(storm, key())
    storm.collect()
    log(storm, key())
    assert storm.collect() == []
    [digest] = storm.collect(force=True)
    assert digest.count == 1


def test_hourly_cap_ends_with_one_notice_then_holds_and_reports_what_was_suppressed(clock: FakeClock) -> None:
    storm = StormControl(digest_window=0, max_emails_per_hour=3, clock=clock)
    kinds = []
    for line in range(1, 11):
        log(storm, key(line))
        kinds += [m.kind for m in storm.collect()]
        clock.advance(1)
    assert kinds == ["alert", "alert", "notice"]
    # After the notice: everything is held and counted, nothing goes out.
    for _ in range(1000):
        log(storm, key(99))
    assert storm.collect() == []
    assert storm.collect(force=True) == []
    clock.advance(3600)
    [digest] = storm.collect()
    assert digest.kind == "digest"
    assert digest.held == 1000 + 7  # the 7 records after the notice plus the 1000
    assert digest.count == 1007
    assert digest.held_since is not None


def test_notice_carries_everything_left_when_the_budget_runs_out(clock: FakeClock) -> None:
    storm = StormControl(digest_window=0, max_emails_per_hour=2, clock=clock)
    for line in range(1, 6):
        log(storm, key(line))
    mails = storm.collect()
    assert [m.kind for m in mails] == ["alert", "notice"]
    assert mails[1].count == 4
    assert mails[1].resume_at is not None
    assert sum(m.count for m in mails) == 5  # nothing lost


def test_final_flush_may_exceed_the_cap_by_one_email(clock: FakeClock) -> None:
    storm = StormControl(digest_window=0, max_emails_per_hour=1, clock=clock)
    log(storm, key(1))
    assert [m.kind for m in storm.collect()] == ["notice"]
    log(storm, key(2))
    log(storm, key(3))
    assert storm.collect(force=True) == []
    [last] = storm.collect(force=True, final=True)
    assert last.count == 2


def test_max_groups_evicts_the_oldest_and_reports_the_drop(clock: FakeClock) -> None:
    storm = StormControl(digest_window=60, max_groups=3, clock=clock)
    for line in range(1, 6):
        log(storm, key(line))
    assert storm.group_count == 3
    mails = storm.collect()
    assert {m.groups[0].key[3] for m in mails} == {3, 4, 5}  # the newest are kept
    assert mails[0].dropped == 2
    assert sum(m.dropped for m in mails) == 2
    assert storm.dropped_total == 2


def test_restore_puts_records_back_for_one_catch_up_digest(clock: FakeClock) -> None:
    storm = StormControl(digest_window=60, max_emails_per_hour=5, clock=clock)
    log(storm, key(1))
    log(storm, key(2))
    mails = storm.collect()
    for mail in mails:
        storm.restore(mail)
    storm.delivery_failed()
    for _ in range(3):
        log(storm, key(1))
    [catch_up] = storm.collect()
    assert catch_up.kind == "digest"
    assert {g.key[3]: g.count for g in catch_up.groups} == {1: 4, 2: 1}
    assert catch_up.outage_since is not None
    assert catch_up.failed_attempts == 1
    storm.delivery_succeeded()
    log(storm, key(3))
    clock.advance(61)
    assert storm.collect()[0].outage_since is None


def test_restore_refunds_the_hourly_budget(clock: FakeClock) -> None:
    storm = StormControl(digest_window=0, max_emails_per_hour=2, clock=clock)
    for _ in range(10):  # ten failed attempts must not use up the cap
        log(storm, key(1))
        for mail in storm.collect():
            storm.restore(mail)
    [mail] = storm.collect()
    assert mail.kind == "digest"  # a restored alert comes back as a catch-up digest
    assert mail.count == 10


def test_group_without_its_sample_yet_is_not_sent(clock: FakeClock) -> None:
    storm = StormControl(clock=clock)
    assert storm.observe(key(), 0.0) == Observed.NEEDS_SAMPLE_PROMPT
    assert storm.collect(force=True) == []  # the logging thread is still taking the snapshot
    storm.attach(key(), alert())
    assert storm.collect()[0].count == 1


def test_bad_thresholds_are_refused() -> None:
    with pytest.raises(ValueError, match="max_emails_per_hour"):
        StormControl(max_emails_per_hour=0)
    with pytest.raises(ValueError, match="digest_window"):
        StormControl(digest_window=-1)


def test_fingerprint_uses_logger_level_location_and_exception_type() -> None:
    def record(**kw: object) -> logging.LogRecord:
        base = {"name": "db", "levelno": 40, "pathname": "db.py", "lineno": 7, "msg": "x"}
        base.update(kw)
        return logging.makeLogRecord(base)

    try:
        raise KeyError("k")
    except KeyError:
        import sys

        exc_info = sys.exc_info()
    assert fingerprint(record()) == fingerprint(record(msg="a different message"))
    assert fingerprint(record()) != fingerprint(record(lineno=8))
    assert fingerprint(record()) != fingerprint(record(levelno=50))
    assert fingerprint(record(exc_info=exc_info))[4] == "KeyError"
    # Flattened by a QueueHandler: the type is read back from the rendered traceback.
    flat = "x\nTraceback (most recent call last):\n  File ...\nKeyError: 'k'"
    assert fingerprint(record(msg=flat))[4] == "KeyError"


def test_outgoing_level_is_the_highest_in_the_mail() -> None:
    low = alert()
    high = Alert(**{**low.__dict__, "levelno": logging.CRITICAL, "levelname": "CRITICAL"})
    from logging_handler.storm import GroupReport

    mail = Outgoing("digest", (GroupReport(key(1), 1, 0, 0, low, 1), GroupReport(key(2), 1, 0, 0, high, 1)))
    assert mail.levelno == logging.CRITICAL


def test_distinct_texts_of_a_group_are_counted_and_survive_a_failed_delivery() -> None:
    storm = StormControl(digest_window=60, max_distinct_messages=2, clock=FakeClock())
    k = key()
    for text in ["a", "b", "a", "c", "d", "c"]:
        if storm.observe(k, 0.0, text) & Observed.NEEDS_SAMPLE:
            storm.attach(k, alert(text))
    [mail] = storm.collect(force=True)
    [report] = mail.groups
    assert report.messages == (("a", 2), ("b", 1))
    assert (report.other_messages, report.other_records) == (2, 3)
    storm.restore(mail)
    [again] = storm.collect(force=True)
    assert again.groups[0].messages == report.messages
    assert (again.groups[0].other_messages, again.groups[0].other_records) == (2, 3)


def test_refused_records_are_reported_in_the_next_email() -> None:
    storm = StormControl(digest_window=0, clock=FakeClock(), wall_clock=lambda: 50.0)
    log(storm, key(1))
    [mail] = storm.collect()
    storm.refuse(mail, "Smtp2goAuthError: 401 API key invalid")
    assert storm.refused_pending == 1
    log(storm, key(2))
    [nxt] = storm.collect()
    assert (nxt.refused, nxt.refused_since, nxt.refused_reason) == (1, 50.0, "Smtp2goAuthError: 401 API key invalid")
    storm.refuse(nxt, "again")  # refused too: both counts carry on
    log(storm, key(3))
    [third] = storm.collect()
    assert third.refused == 2
