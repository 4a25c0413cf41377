"""compare_bus across a version bump: a message published at an older type version equals a store
that renders the event upcast when the contract's upcasters turn the one into the other."""

from __future__ import annotations

from libs.platform.audit.verify import Report, compare_bus
from libs.platform.messaging.cloudevents import GENESIS, Envelope

V1 = Envelope(id="e1", source="/tsunagu/dispatch", type="jp.tsunagu.dispatch.DispatchSuspended.v1",
              subject="d1", time="2016-06-01T10:00:00+09:00", tenant="131016", sequence=1, aggregate="dispatch",
              data={"reason": "体調不良のため", "suspended_on": "2016-06-01"}, leafhash="ab" * 32)
V2_STORE = Envelope(**{**V1.to_dict(), "type": "jp.tsunagu.dispatch.DispatchSuspended.v2",
                       "data": {"reason": "other", "note": None, "suspended_on": "2016-06-01"}})


def _compared(store: Envelope, bus: Envelope) -> Report:
    report = Report("dispatch")
    compare_bus(report, [store], [bus.chained(GENESIS)])
    return report


def test_a_message_of_an_older_version_equals_the_store_rendering_it_upcast():
    assert _compared(V2_STORE, V1).ok


def test_an_older_message_whose_upcast_data_or_leaf_differs_from_the_store_is_reported():
    other_day = Envelope(**{**V1.to_dict(), "data": {**V1.data, "suspended_on": "2016-06-02"}})
    other_leaf = Envelope(**{**V1.to_dict(), "leafhash": "cd" * 32})
    for bus in (other_day, other_leaf):
        assert _compared(V2_STORE, bus).problems == ["bus message 1 differs from the stored event"]
