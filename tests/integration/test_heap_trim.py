"""After a burst of logins, worker 0's sweep hands the heap's free pages back to the system
(worker.cpp, core::heap_trim_policy). When it trims is the policy's unit test; this checks the
wiring against real logins, through the debug log line each trim writes."""

from __future__ import annotations

from helpers_core import connect, holds_for, wait_log

MIN_LOGINS = 100  # heap_trim_policy::min_logins
TRIMMED = "heap trimmed after logins"


def test_a_burst_of_logins_is_followed_by_one_heap_trim(pgrelay):
    relay = pgrelay({"log": {"format": "text", "level": "debug"}})
    for _ in range(MIN_LOGINS // 2):
        connect(relay.dsn()).close()
    # Two sweeps go by with too few logins to be worth a trim.
    assert holds_for(lambda: TRIMMED not in relay.log(), 2.5) is None
    for _ in range(MIN_LOGINS - MIN_LOGINS // 2):
        connect(relay.dsn()).close()
    wait_log(relay, TRIMMED, timeout=10)
    with connect(relay.dsn()) as c:
        assert c.execute("SELECT 41 + 1").fetchone()[0] == 42
    # Nothing new since: the next sweeps do not trim again.
    assert holds_for(lambda: relay.log().count(TRIMMED) == 1, 2.5) is None
