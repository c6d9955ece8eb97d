// The session ledger decides what a client's SETs, resets, pins and opaque statements leave on
// the servers it borrows, and what a server needs before another client may have it. These
// cases drive it as the relay does: statements through the real parser, then the server's
// frames, then the quiet-point steps; two clients share servers to show nothing crosses.
#include <catch2/catch.hpp>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "pgrelay/core/session_ledger.hpp"
#include "pgrelay/router/session_effects.hpp"

using pgrelay::core::bit;
using pgrelay::core::pin_reason;
using pgrelay::core::quiet_step;
using pgrelay::core::server_settings;
using pgrelay::core::session_ledger;

namespace {

// A statement sent and answered in its own implicit transaction.
void autocommit(session_ledger& l, server_settings& s, std::string_view sql, bool fails = false) {
  auto fx = pgrelay::router::analyze_session_effects(sql);
  l.pin(pgrelay::core::pins_of(fx));
  l.on_statement(fx, sql, s);
  if (fails) l.on_error();
  l.on_ready_for_query('I', &s);
}

void statement(session_ledger& l, server_settings& s, std::string_view sql, char status_after) {
  auto fx = pgrelay::router::analyze_session_effects(sql);
  l.pin(pgrelay::core::pins_of(fx));
  l.on_statement(fx, sql, s);
  if (sql.starts_with("ROLLBACK")) l.on_command_complete("ROLLBACK");
  l.on_ready_for_query(status_after, &s);
}

session_ledger client(pgrelay::core::param_map startup = {}) {
  session_ledger l;
  l.start(std::move(startup));
  return l;
}

}  // namespace

TEST_CASE("a committed SET follows the client and is reset before the next client") {
  auto a = client();
  auto b = client();
  server_settings first;
  server_settings second;
  autocommit(a, first, "SET statement_timeout = '5s'");
  CHECK(a.next_quiet_step() == quiet_step::release);
  // The next client of the first server gets it reset; the first client's next server gets it set.
  CHECK(b.sync_sql(first) == "RESET \"statement_timeout\";");
  CHECK(b.sync_sql(first).empty());
  CHECK(a.sync_sql(second) == "SET statement_timeout = '5s';");
  CHECK(a.sync_sql(second).empty());
}

TEST_CASE("a SET rolled back is never replayed and the server's record goes back") {
  auto a = client();
  server_settings s;
  autocommit(a, s, "SET work_mem = '1MB'");
  statement(a, s, "BEGIN", 'T');
  statement(a, s, "SET work_mem = '8MB'", 'T');
  statement(a, s, "ROLLBACK", 'I');
  server_settings next;
  CHECK(a.sync_sql(next) == "SET work_mem = '1MB';");
  CHECK(a.sync_sql(s).empty());  // the first SET's text is what the server has
}

TEST_CASE("a SET whose implicit transaction failed is forgotten") {
  auto a = client();
  auto b = client();
  server_settings s;
  autocommit(a, s, "SET search_path = x", /*fails=*/true);
  server_settings next;
  CHECK(a.sync_sql(next).empty());
  CHECK(b.sync_sql(s).empty());
}

TEST_CASE("after ROLLBACK TO SAVEPOINT the server is asked which SETs stand") {
  auto a = client();
  server_settings s;
  statement(a, s, "BEGIN", 'T');
  statement(a, s, "SET work_mem = '8MB'", 'T');
  statement(a, s, "ROLLBACK TO SAVEPOINT p", 'T');
  CHECK(a.next_quiet_step() == quiet_step::release);  // inside the transaction nothing is settled
  statement(a, s, "COMMIT", 'I');
  REQUIRE(a.next_quiet_step() == quiet_step::verify_settings);
  auto names = a.take_settings_to_verify();
  REQUIRE(names == std::vector<std::string>{"work_mem"});
  std::vector<std::string> values{"4MB"};
  a.record_verified(names, values, s);
  CHECK(a.next_quiet_step() == quiet_step::release);
  server_settings next;
  CHECK(a.sync_sql(next) == "SELECT pg_catalog.set_config('work_mem', '4MB', false);");
}

TEST_CASE("set_config with a computed value marks the server so the next client resets it") {
  auto a = client();
  auto b = client();
  server_settings s;
  autocommit(a, s, "SELECT set_config('app.tenant', (SELECT 'x'), false)");
  CHECK(a.next_quiet_step() == quiet_step::verify_settings);
  (void)a.take_settings_to_verify();  // the read failed: the driver closes this server
  CHECK(b.sync_sql(s) == "RESET \"app\".\"tenant\";");
}

TEST_CASE("RESET and RESET ALL return to the startup values") {
  auto a = client({{"search_path", "app"}});
  server_settings s;
  s.baseline = {{"search_path", "\"$user\", public"}};
  CHECK(a.sync_sql(s) == "SELECT pg_catalog.set_config('search_path', 'app', false);");
  a.on_parameter_status("search_path", "other", s);  // SET search_path = other, reported
  CHECK(a.wanted().at("search_path") == "other");
  autocommit(a, s, "RESET search_path");
  CHECK(a.wanted().at("search_path") == "app");
  autocommit(a, s, "SET work_mem = '8MB'");
  autocommit(a, s, "RESET ALL");
  CHECK(a.next_quiet_step() == quiet_step::restore_startup);
  a.on_parameter_status("search_path", "\"$user\", public", s);  // RESET ALL's own report: not the client's
  CHECK(a.wanted().at("search_path") == "app");
  auto sql = a.sync_sql(s);
  CHECK(sql.find("search_path") != std::string::npos);
  CHECK(sql.find("work_mem") == std::string::npos);
  a.startup_restored();
  CHECK(a.next_quiet_step() == quiet_step::release);
}

TEST_CASE("reports of server facts are never taken as the client's settings") {
  auto a = client();
  server_settings s;
  a.on_parameter_status("is_superuser", "on", s);
  a.on_parameter_status("server_version", "15.0", s);
  CHECK(a.wanted().empty());
  CHECK(s.applied.empty());
}

TEST_CASE("an advisory lock keeps the server until the server says none is held") {
  auto a = client();
  server_settings s;
  autocommit(a, s, "SELECT pg_advisory_lock(1)");
  CHECK(a.holds_server());
  CHECK(a.next_quiet_step() == quiet_step::keep);
  autocommit(a, s, "SELECT pg_advisory_unlock(1)");
  CHECK_FALSE(a.holds_server());  // may reach a quiet point, where the server is asked
  REQUIRE(a.next_quiet_step() == quiet_step::check_advisory_locks);
  a.advisory_locks_checked(true);  // another lock is still held
  CHECK(a.holds_server());
  CHECK(a.next_quiet_step() == quiet_step::keep);
  autocommit(a, s, "SELECT pg_advisory_unlock_all()");
  a.advisory_locks_checked(false);
  CHECK(a.next_quiet_step() == quiet_step::release);
  CHECK_FALSE(a.left_state_on_server());
}

TEST_CASE("any other pin keeps the server for good, also after an unlock") {
  auto a = client();
  server_settings s;
  autocommit(a, s, "LISTEN jobs");
  CHECK(a.pin(bit(pin_reason::listen)) == 0);  // already held: nothing new to log
  autocommit(a, s, "SELECT pg_advisory_unlock(1)");
  CHECK(a.holds_server());
  CHECK(a.next_quiet_step() == quiet_step::keep);
  CHECK(a.left_state_on_server());
}

TEST_CASE("an opaque statement is probed; what the probe finds pins or follows the client") {
  auto a = client({{"application_name", "app"}});
  auto b = client();
  server_settings s;
  autocommit(a, s, "DO $$BEGIN PERFORM 1; END$$");
  CHECK(a.left_state_on_server());
  REQUIRE(a.next_quiet_step() == quiet_step::probe);
  std::vector<std::string> rows{"set", "search_path", "x",          "set", "application_name", "other",
                                "pin", "temp_table",  std::string{}};
  CHECK(a.probe_answered(rows, s) == bit(pin_reason::temp_table));
  CHECK(a.next_quiet_step() == quiet_step::keep);
  CHECK(a.wanted().at("application_name") == "other");
  server_settings next;
  CHECK(a.sync_sql(next).find("set_config('search_path', 'x', false)") != std::string::npos);
  // Custom settings the probe cannot list are all reset for the next client.
  CHECK(b.sync_sql(s).starts_with("RESET ALL;"));
}

TEST_CASE("a probe that finds nothing releases the server, reset for the next client") {
  auto a = client();
  auto b = client();
  server_settings s;
  autocommit(a, s, "CALL do_things()");
  REQUIRE(a.next_quiet_step() == quiet_step::probe);
  CHECK(a.probe_answered({}, s) == 0);
  CHECK(a.next_quiet_step() == quiet_step::release);
  CHECK(b.sync_sql(s) == "RESET ALL;");
  CHECK(b.sync_sql(s).empty());
}

TEST_CASE("a failed probe closes the server and owes nothing more") {
  auto a = client();
  server_settings s;
  autocommit(a, s, "DO $$BEGIN PERFORM 1; END$$");
  a.probe_failed();
  CHECK(a.next_quiet_step() == quiet_step::release);
}

TEST_CASE("settings reported after a sync are the server's spelling of the client's values") {
  auto a = client({{"datestyle", "iso, mdy"}});
  server_settings s;
  (void)a.sync_sql(s);
  a.adopt_reported({{"datestyle", "ISO, MDY"}, {"timezone", "UTC"}}, s);
  CHECK(a.wanted().at("datestyle") == "ISO, MDY");
  CHECK_FALSE(a.wanted().contains("timezone"));
  CHECK(a.sync_sql(s).empty());
}

TEST_CASE("CommandComplete tags are watched only while a SET waits for its transaction") {
  auto a = client();
  server_settings s;
  CHECK_FALSE(a.watches_command_tags());
  statement(a, s, "BEGIN", 'T');
  auto fx = pgrelay::router::analyze_session_effects("SET work_mem = '8MB'");
  a.on_statement(fx, "SET work_mem = '8MB'", s);
  CHECK(a.watches_command_tags());
  a.on_ready_for_query('I', &s);
  CHECK_FALSE(a.watches_command_tags());
}

TEST_CASE("a server handed to a client with the same settings as its last one needs no plan") {
  auto a = client({{"application_name", "web"}, {"timezone", "UTC"}});
  auto same = client({{"application_name", "web"}, {"timezone", "UTC"}});
  auto other = client({{"application_name", "web"}, {"timezone", "Europe/Paris"}});
  server_settings s;
  s.baseline = {{"application_name", ""}, {"timezone", "Etc/UTC"}};
  CHECK_FALSE(a.sync_sql(s).empty());
  CHECK(same.sync_sql(s).empty());
  CHECK(other.sync_sql(s) == "SELECT pg_catalog.set_config('timezone', 'Europe/Paris', false);");
  CHECK(a.sync_sql(s) == "SELECT pg_catalog.set_config('timezone', 'UTC', false);");
  // A SET by the client holding it: the next client with the old settings gets it undone.
  autocommit(a, s, "SET work_mem = '8MB'");
  CHECK(same.sync_sql(s) == "RESET \"work_mem\";");
  // The client's own settings changed on another server: this one is no longer in line.
  server_settings t;
  autocommit(same, t, "SET work_mem = '2MB'");
  CHECK(same.sync_sql(s) == "SET work_mem = '2MB';");
  s.discarded();  // DISCARD ALL: everything is set again
  CHECK(same.sync_sql(s) == "SELECT pg_catalog.set_config('application_name', 'web', false), "
                            "pg_catalog.set_config('timezone', 'UTC', false);SET work_mem = '2MB';");
}

TEST_CASE("whenever a server is taken as in line already, the whole plan agrees") {
  // Random statements, reports and handovers among three clients and three servers. Each
  // handover is also planned in full on a copy of the server that remembers nothing: the two
  // must give the same SQL and leave the same record. Reports name a setting no statement here
  // SETs, as a real server's would (a SET is reported with the value it set).
  std::mt19937 rng(20261204);
  std::vector<session_ledger> clients;  // a ledger moves, it is not copied
  for (const char* app : {"a", "a", "b"}) clients.push_back(client({{"application_name", app}}));
  std::vector<server_settings> servers(3);
  const std::vector<std::string> statements{
      "SET work_mem = '8MB'", "SET work_mem = '1MB'", "RESET work_mem", "RESET ALL", "SET search_path = x",
      "SELECT set_config('app.t', 'v', false)", "SELECT set_config('app.t', (SELECT 'w'), false)", "DISCARD ALL"};
  int hits = 0;
  for (int step = 0; step < 5000; ++step) {
    auto& c = clients[rng() % clients.size()];
    auto& s = servers[rng() % servers.size()];
    switch (rng() % 4) {
      case 0: {
        server_settings fresh = s;
        fresh.synced_for.clear();
        const auto full = c.sync_sql(fresh);
        hits += !s.synced_for.empty() && s.synced_for == c.settings_key();
        const auto sql = c.sync_sql(s);
        INFO("step " << step);
        REQUIRE(sql == full);
        REQUIRE(s.applied == fresh.applied);
        REQUIRE(s.applied_sql == fresh.applied_sql);
        break;
      }
      case 1:
        autocommit(c, s, statements[rng() % statements.size()]);
        break;
      case 2:
        c.on_parameter_status("timezone", rng() % 2 ? "UTC" : "Europe/Paris", s);
        break;
      default:
        if (c.next_quiet_step() == quiet_step::verify_settings) {
          auto names = c.take_settings_to_verify();
          std::vector<std::string> values(names.size(), "w");
          c.record_verified(names, values, s);
        } else if (c.next_quiet_step() == quiet_step::restore_startup) {
          c.startup_restored();
        } else if (rng() % 8 == 0) {
          s.discarded();
        }
    }
  }
  CHECK(hits > 100);  // the memo was exercised, not only the full plan
}

TEST_CASE("clients sharing one copy of their startup settings never see each other's changes") {
  using pgrelay::core::param_map;
  const auto startup = std::make_shared<const param_map>(param_map{{"application_name", "web"}, {"timezone", "UTC"}});
  session_ledger a;
  session_ledger b;
  a.start(startup);
  b.start(startup);
  server_settings s;
  // SET application_name on a's server, and the server's own spelling of a's time zone.
  a.on_parameter_status("application_name", "job", s);
  a.adopt_reported(param_map{{"timezone", "Etc/UTC"}}, s);
  CHECK(a.wanted().at("application_name") == "job");
  CHECK(a.wanted().at("timezone") == "Etc/UTC");
  CHECK(a.startup_wanted() == *startup);
  CHECK(b.wanted() == *startup);
  CHECK(startup->at("application_name") == "web");
  CHECK(startup->at("timezone") == "UTC");
  CHECK(a.settings_key() != b.settings_key());
  // RESET of one brings back its startup value and keeps the other change; RESET ALL all of them.
  autocommit(a, s, "RESET application_name");
  CHECK(a.wanted().at("application_name") == "web");
  CHECK(a.wanted().at("timezone") == "Etc/UTC");
  autocommit(a, s, "RESET ALL");
  CHECK(a.wanted() == *startup);
  // A RESET on a client that changed nothing, and a report equal to its value, change nothing.
  server_settings t;
  autocommit(b, t, "RESET timezone");
  b.on_parameter_status("application_name", "web", t);
  CHECK(b.wanted() == *startup);
  session_ledger c;
  c.start(startup);
  CHECK(b.settings_key() == c.settings_key());
  server_settings for_b;
  server_settings for_c;
  CHECK(b.sync_sql(for_b) == c.sync_sql(for_c));
}

TEST_CASE("a ledger's own copy of its settings gives way to an equal shared one, and only to an equal one") {
  using pgrelay::core::param_map;
  session_ledger a;
  a.start(std::make_shared<const param_map>(param_map{{"datestyle", "ISO"}}));
  server_settings s;
  // (Names as the proxy keeps them: lower case.) The server spells the client's DateStyle its own
  // way: the client's own copy now.
  a.adopt_reported(param_map{{"datestyle", "ISO, MDY"}}, s);
  REQUIRE(a.owns_wanted());
  const auto key = a.settings_key();
  a.share_wanted(std::make_shared<const param_map>(param_map{{"datestyle", "ISO, DMY"}}));
  CHECK(a.owns_wanted());  // not the same settings: refused
  CHECK(a.wanted().at("datestyle") == "ISO, MDY");
  const auto respelled = std::make_shared<const param_map>(param_map{{"datestyle", "ISO, MDY"}});
  a.share_wanted(respelled);
  CHECK_FALSE(a.owns_wanted());
  CHECK(a.settings_key() == key);
  // A later change copies again and leaves the shared set as it was; RESET brings the startup value.
  a.on_parameter_status("datestyle", "German, DMY", s);
  CHECK(a.wanted().at("datestyle") == "German, DMY");
  CHECK(respelled->at("datestyle") == "ISO, MDY");
  autocommit(a, s, "RESET DateStyle");
  CHECK(a.wanted().at("datestyle") == "ISO");
  // A parked client's key keeps no storage and comes back the same.
  const auto before = a.settings_key();
  a.release_key();
  CHECK(a.settings_key() == before);
}
