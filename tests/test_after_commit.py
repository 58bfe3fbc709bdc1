"""extensions.after_commit: an action runs once the transaction commits, never on a rollback, and
savepoints keep or forget exactly the actions registered inside them."""

from __future__ import annotations

import pytest

from compliance.audit import record
from extensions import after_commit, db
from tests.records import audit_events


class Ran(list):
    """The names of the actions that have run, in order; ``later(name)`` registers one more."""

    def later(self, name: str) -> None:
        after_commit(lambda: self.append(name))


@pytest.fixture
def ran(app) -> Ran:
    return Ran()


def write(marker: str) -> None:
    """A real row in the transaction, so a savepoint on SQLite opens inside a begun transaction."""
    record("test.after_commit", details={"marker": marker})
    db.session.flush()


def test_an_action_runs_after_the_commit_once_and_not_at_flush(app, ran):
    write("a")
    ran.later("enqueue")
    db.session.flush()
    assert ran == []
    db.session.commit()
    assert ran == ["enqueue"]
    db.session.commit()  # a later commit of the same session does not run it again
    assert ran == ["enqueue"]


def test_a_rollback_forgets_the_action_and_a_later_commit_does_not_bring_it_back(app, ran):
    write("a")
    ran.later("forgotten")
    db.session.rollback()
    write("b")
    db.session.commit()
    assert ran == []


def test_an_action_registered_before_any_query_waits_for_the_commit(app, ran):
    db.session.remove()  # a fresh session: no transaction has begun
    ran.later("first")
    write("a")
    assert ran == []
    db.session.commit()
    assert ran == ["first"]


def test_a_rolled_back_savepoint_forgets_its_own_actions_only(app, ran):
    write("outer")
    ran.later("outer")
    savepoint = db.session.begin_nested()
    write("inner")
    ran.later("inner")
    savepoint.rollback()
    assert ran == []
    db.session.commit()
    assert ran == ["outer"]
    assert [event.details["marker"] for event in audit_events("test.after_commit")] == ["outer"]


def test_a_savepoint_that_raises_inside_with_forgets_its_actions(app, ran):
    write("outer")
    ran.later("outer")
    with pytest.raises(ValueError), db.session.begin_nested():
        ran.later("inner")
        raise ValueError("lost a race")
    db.session.commit()
    assert ran == ["outer"]


def test_a_released_savepoint_hands_its_actions_to_the_outer_commit(app, ran):
    write("outer")
    ran.later("before")
    with db.session.begin_nested():
        write("inner")
        ran.later("inner")
    assert ran == [], "releasing a savepoint is no commit"
    ran.later("after")
    db.session.commit()
    assert ran == ["before", "inner", "after"]


def test_a_released_savepoint_whose_outer_transaction_rolls_back_runs_nothing(app, ran):
    write("outer")
    with db.session.begin_nested():
        ran.later("inner")
    db.session.rollback()
    db.session.commit()
    assert ran == []


def test_nested_savepoints_keep_and_forget_level_by_level(app, ran):
    write("outer")
    with db.session.begin_nested():
        ran.later("middle")
        inner = db.session.begin_nested()
        ran.later("inner")
        inner.rollback()
        with db.session.begin_nested():
            ran.later("second inner")
    db.session.commit()
    assert ran == ["middle", "second inner"]


def test_a_failing_action_does_not_stop_the_others_and_its_error_is_raised(app, ran):
    def fail():
        raise RuntimeError("Redis is down")

    write("a")
    ran.later("first")
    after_commit(fail)
    ran.later("last")
    with pytest.raises(RuntimeError, match="Redis is down"):
        db.session.commit()
    assert ran == ["first", "last"]
    assert [event.details["marker"] for event in audit_events("test.after_commit")] == ["a"]  # committed
