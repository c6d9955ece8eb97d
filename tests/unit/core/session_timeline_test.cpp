// A session's deadlines: idle in transaction counts from the ReadyForQuery that left the
// transaction idle, query_timeout cancels first and gives up only after the grace, a cut client
// frame closes its server after its grace, and the earliest pending deadline is the next wake.
#include <catch2/catch.hpp>

#include "pgrelay/core/session_timeline.hpp"

using namespace pgrelay::core;
using namespace std::chrono_literals;

namespace {

const session_clock::time_point t0 = session_clock::time_point{} + 1h;

relay_limits limits(std::chrono::milliseconds idle, std::chrono::milliseconds query) {
  relay_limits l;
  l.idle_in_transaction = idle;
  l.query = query;
  l.cancel_grace = 100ms;
  l.cut_frame_grace = 50ms;
  return l;
}

}  // namespace

TEST_CASE("timeline: transactions and their durations", "[core][timeline]") {
  session_timeline t(t0);
  t.request_started(t0 + 1ms);
  auto e = t.request_ended('T', t0 + 3ms);  // BEGIN
  CHECK(e.query == 2ms);
  CHECK_FALSE(e.transaction);
  CHECK(t.in_transaction());
  t.request_started(t0 + 10ms);
  e = t.request_ended('I', t0 + 14ms);  // COMMIT
  CHECK(e.query == 4ms);
  REQUIRE(e.transaction);
  CHECK(*e.transaction == 13ms);  // from BEGIN's request
  CHECK(t.transactions() == 1);
  t.request_started(t0 + 20ms);
  e = t.request_ended('I', t0 + 21ms);  // autocommit
  REQUIRE(e.transaction);
  CHECK(*e.transaction == 1ms);
  CHECK(t.transactions() == 2);
  CHECK_FALSE(t.in_transaction());
}

TEST_CASE("timeline: idle in transaction counts from the last ReadyForQuery", "[core][timeline]") {
  session_timeline t(t0);
  t.request_started(t0);
  t.request_ended('T', t0 + 5ms);
  relay_facts idle{.in_transaction = true, .awaiting_client = true};
  auto c = t.check(t0 + 10ms, limits(100ms, 0ms), idle);
  CHECK(c.action == deadline_action::none);
  CHECK(c.wake == t0 + 105ms);
  CHECK(t.check(t0 + 105ms, limits(100ms, 0ms), idle).action == deadline_action::idle_timeout);
  // Off, or the server is working for the client: no deadline.
  CHECK_FALSE(t.check(t0 + 1s, limits(0ms, 0ms), idle).wake);
  relay_facts working{.in_transaction = true, .awaiting_client = false, .request_outstanding = true};
  CHECK(t.check(t0 + 1s, limits(100ms, 0ms), working).action == deadline_action::none);
  // An error left the transaction aborted ('E'): still idle in it.
  t.request_started(t0 + 200ms);
  t.request_ended('E', t0 + 201ms);
  CHECK(t.check(t0 + 250ms, limits(100ms, 0ms), idle).wake == t0 + 301ms);
}

TEST_CASE("timeline: query_timeout cancels, then gives up after the grace", "[core][timeline]") {
  session_timeline t(t0);
  t.request_started(t0);
  relay_facts running{.request_outstanding = true};
  auto c = t.check(t0 + 10ms, limits(0ms, 50ms), running);
  CHECK(c.action == deadline_action::none);
  CHECK(c.wake == t0 + 50ms);
  c = t.check(t0 + 50ms, limits(0ms, 50ms), running);
  CHECK(c.action == deadline_action::cancel_query);
  CHECK(c.wake == t0 + 150ms);
  running.cancel_sent = true;
  c = t.check(t0 + 120ms, limits(0ms, 50ms), running);
  CHECK(c.action == deadline_action::none);
  CHECK(c.wake == t0 + 150ms);
  CHECK(t.check(t0 + 150ms, limits(0ms, 50ms), running).action == deadline_action::query_timeout);
  // Nothing outstanding: the query ended, no deadline.
  CHECK_FALSE(t.check(t0 + 1s, limits(0ms, 50ms), relay_facts{}).wake);
}

TEST_CASE("timeline: a cut frame closes its server after the grace, not while a write is busy", "[core][timeline]") {
  session_timeline t(t0);
  relay_facts cut{.cut_since = t0 + 10ms};
  auto c = t.check(t0 + 20ms, limits(0ms, 0ms), cut);
  CHECK(c.action == deadline_action::none);
  CHECK(c.wake == t0 + 60ms);
  CHECK(t.check(t0 + 60ms, limits(0ms, 0ms), cut).action == deadline_action::cut_frame);
  cut.server_write_busy = true;
  CHECK(t.check(t0 + 60ms, limits(0ms, 0ms), cut).action == deadline_action::none);
}

TEST_CASE("timeline: the earliest deadline is the wake; idle is judged before the others", "[core][timeline]") {
  session_timeline t(t0);
  t.request_started(t0);
  t.request_ended('T', t0);
  relay_facts both{.in_transaction = true, .awaiting_client = true, .cut_since = t0 + 5ms};
  CHECK(t.check(t0 + 1ms, limits(100ms, 0ms), both).wake == t0 + 55ms);
  CHECK(t.check(t0 + 100ms, limits(100ms, 0ms), both).action == deadline_action::idle_timeout);
}

TEST_CASE("timeline: when nothing is watched, no moment is due and nothing wakes", "[core][timeline]") {
  session_timeline t(t0);
  t.request_started(t0);
  (void)t.request_ended('T', t0 + 1ms);
  t.request_started(t0 + 2ms);
  // Every combination of limits and facts: check() may say something only when watching().
  for (int bits = 0; bits < 128; ++bits) {
    auto l = limits(bits & 1 ? 10ms : 0ms, bits & 2 ? 10ms : 0ms);
    relay_facts f{.in_transaction = (bits & 4) != 0,
                  .awaiting_client = (bits & 8) != 0,
                  .request_outstanding = (bits & 16) != 0,
                  .cancel_sent = (bits & 32) != 0,
                  .cut_since = bits & 64 ? std::optional(t0) : std::nullopt,
                  .server_write_busy = false};
    for (auto at : {t0, t0 + 5ms, t0 + 1h}) {
      auto due = t.check(at, l, f);
      INFO("bits " << bits);
      if (!session_timeline::watching(l, f)) {
        CHECK(due.action == deadline_action::none);
        CHECK_FALSE(due.wake.has_value());
      }
    }
  }
  CHECK(session_timeline::watching(limits(0ms, 10ms), relay_facts{.request_outstanding = true}));
}
