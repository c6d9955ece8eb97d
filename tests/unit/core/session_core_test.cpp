// The session's own state apart from its connections: what routing remembers between units,
// the slow-request text, pins counted once, and the names of the ways a session ends.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "pgrelay/core/session_core.hpp"
#include "pgrelay/protocol/writer.hpp"
#include "pgrelay/router/session_effects.hpp"

using namespace pgrelay;
using namespace std::chrono_literals;

namespace {

// The client's SET, committed alone: the ledger then replays it on each new server.
void committed_set(core::session_ledger& l, std::string_view sql) {
  core::server_settings server;
  l.on_statement(router::analyze_session_effects(sql), sql, server);
  l.on_ready_for_query('I', &server);
}

// A frame's body as the scanner hands it (after tag and length).
std::string body_of(std::string frame) { return frame.substr(5); }

}  // namespace

TEST_CASE("routing_memory: the staleness budget follows the client's SET pgrelay.max_lag", "[core][session_core]") {
  core::session_ledger ledger;
  ledger.start(core::param_map{});
  core::routing_memory m;
  CHECK_FALSE(m.staleness_budget(ledger).budget);

  committed_set(ledger, "SET pgrelay.max_lag = '2s'");
  auto s = m.staleness_budget(ledger);
  CHECK(s.budget == std::chrono::milliseconds(2000));
  CHECK_FALSE(s.ignored_now);

  committed_set(ledger, "SET pgrelay.max_lag = 'soon'");
  s = m.staleness_budget(ledger);
  CHECK_FALSE(s.budget);
  CHECK(s.ignored_now);  // said once per distinct SET ...
  s = m.staleness_budget(ledger);
  CHECK_FALSE(s.budget);
  CHECK_FALSE(s.ignored_now);  // ... not at every unit

  committed_set(ledger, "RESET pgrelay.max_lag");
  CHECK_FALSE(m.staleness_budget(ledger).budget);
  committed_set(ledger, "SET pgrelay.max_lag = '500ms'");
  CHECK(m.staleness_budget(ledger).budget == std::chrono::milliseconds(500));
}

TEST_CASE("routing_memory: what counts as a unit that may write", "[core][session_core]") {
  core::routing_memory m;
  router::classification unit;
  router::decision d;

  m.routed_without_decision();
  CHECK(m.unit_may_write());  // routing off or session mode: anything may write

  unit.kind = router::statement_kind::read_only;
  d.to_replica = false;
  m.routed(unit, d);
  CHECK_FALSE(m.unit_may_write());  // a read on the primary commits nothing the client waits for

  unit.begin = true;
  m.routed(unit, d);
  CHECK(m.unit_may_write());  // a transaction may write later in it
  unit.begin = false;

  for (auto kind : {router::statement_kind::write, router::statement_kind::parse_error}) {
    unit.kind = kind;
    m.routed(unit, d);
    CHECK(m.unit_may_write());
    d.to_replica = true;
    m.routed(unit, d);
    CHECK_FALSE(m.unit_may_write());  // what a replica ran wrote nothing
    d.to_replica = false;
  }
}

TEST_CASE("request_text: the first Query or Parse is viewed, copied only when asked", "[core][session_core]") {
  core::request_text r;
  CHECK_FALSE(r.note_frame('B', "x"));
  CHECK_FALSE(r.viewing());

  std::string q;
  protocol::build::query(q, "SELECT 1");
  const auto first = body_of(q);
  CHECK(r.note_frame('Q', first));
  CHECK(r.viewing());
  CHECK_FALSE(r.note_frame('Q', first));  // only the request's first statement
  CHECK(r.kept().empty());

  r.keep();
  CHECK_FALSE(r.viewing());
  CHECK(r.kept() == "SELECT 1");
  r.keep();  // a second keep changes nothing
  CHECK(r.kept() == "SELECT 1");
  CHECK_FALSE(r.note_frame('P', first));  // still the same request

  r.end();
  CHECK(r.kept().empty());
  std::string p;
  protocol::build::parse(p, "s1", std::string(5000, 'x'), {});
  const auto long_parse = body_of(p);  // the view must outlive the request, as in_ does
  CHECK(r.note_frame('P', long_parse));
  r.keep();
  CHECK(r.kept().size() == core::request_text::kept_bytes);  // long statements are cut

  r.end();
  CHECK(r.note_frame('Q', "no terminator"));  // a malformed body logs no text
  r.keep();
  CHECK(r.kept().empty());
}

TEST_CASE("session_core: a parking session frees the storage its requests left", "[core][session_core]") {
  core::session_core s(core::session_clock::now());
  std::string p;
  protocol::build::parse(p, "s1", std::string(5000, 'x'), {});
  const auto body = body_of(p);
  REQUIRE(s.running().text.note_frame('P', body));
  s.running().text.keep();
  s.running().text.end();
  REQUIRE(s.running().replay.keep(std::string(3000, 'q'), true));
  s.running().replay.forget();
  // Ended and forgotten, both keep their storage for the next request.
  CHECK(s.running().text.held_bytes() >= core::request_text::kept_bytes);
  CHECK(s.running().replay.held_bytes() >= 3000);
  const auto key = s.ledger.settings_key();

  // Parked: nothing of the running request is held; woken, the next one starts from nothing.
  s.release_request_storage();
  CHECK_FALSE(s.holds_running_request());
  s.wake();
  REQUIRE(s.holds_running_request());
  CHECK(s.running().text.held_bytes() == 0);
  CHECK(s.running().replay.held_bytes() == 0);
  CHECK_FALSE(s.running().text.viewing());
  CHECK_FALSE(s.running().replay.kept());
  CHECK(s.ledger.settings_key() == key);
  // And both work as before afterwards.
  REQUIRE(s.running().text.note_frame('P', body));
  s.running().text.keep();
  CHECK(s.running().text.kept().size() == core::request_text::kept_bytes);
  CHECK(s.running().replay.keep("Q", true));
  CHECK(s.running().replay.kept());
}

TEST_CASE("session_core: each pin reason is new once per session", "[core][session_core]") {
  core::session_core s{core::session_clock::now()};
  const auto lock = core::bit(core::pin_reason::advisory_lock);
  const auto temp = core::bit(core::pin_reason::temp_table);
  CHECK(s.first_pins(lock) == lock);
  CHECK(s.first_pins(lock) == 0);
  CHECK(s.first_pins(lock | temp) == temp);
  CHECK(s.first_pins(0) == 0);
}

TEST_CASE("disconnect_reason: every reason has its own log name", "[core][session_core]") {
  std::set<std::string_view> names;
  for (int r = 0; r <= static_cast<int>(core::disconnect_reason::message_too_large); ++r) {
    auto name = to_string(static_cast<core::disconnect_reason>(r));
    CHECK(name != "unknown");
    CHECK(names.insert(name).second);
  }
}
