// Read-your-writes with the prober's fresher positions: which position covers a write, and a
// replica the prober saw replay it qualifies before the next health round says so.
#include <catch2/catch.hpp>

#include <memory>

#include "pgrelay/router/called_functions.hpp"
#include "pgrelay/router/classify.hpp"
#include "pgrelay/router/live_positions.hpp"
#include "pgrelay/router/route.hpp"

using namespace pgrelay::router;
using namespace std::chrono_literals;

namespace {

const clock::time_point t0 = clock::time_point{} + 1h;

topology two_replicas() {
  topology t;
  t.database = "app";
  t.primary = server_sample{.name = "primary", .reachable = true, .replay_lsn = 1000, .sampled_at = t0};
  for (std::size_t i = 1; i <= 2; ++i) {
    replica_view r;
    r.name = "r" + std::to_string(i);
    r.server_index = i;
    r.roles = {"read"};
    r.sample = server_sample{.name = r.name, .reachable = true, .in_recovery = true, .receive_lsn = 1000,
                             .replay_lsn = 1000, .sampled_at = t0};
    t.replicas.push_back(r);
  }
  t.primary_marks = {{t0 - 10ms, 900}, {t0, 1000}};
  t.live = std::make_shared<live_positions>(3);
  return t;
}

}  // namespace

TEST_CASE("covering_position: the round's marks, the prober's, the smaller of both", "[router][live]") {
  auto t = two_replicas();
  CHECK(covering_position(t, t0 - 5ms) == 1000);
  CHECK_FALSE(covering_position(t, t0 + 1ms).has_value());
  t.live->mark_lsn = 1500;
  t.live->mark_asked_at = ticks(t0 + 2ms);
  CHECK(covering_position(t, t0 + 1ms) == 1500);
  CHECK(covering_position(t, t0 - 5ms) == 1000);  // the round's earlier mark is reached sooner
  CHECK_FALSE(covering_position(t, t0 + 3ms).has_value());
}

TEST_CASE("route: a replica the prober saw replay the floor serves the read", "[router][live]") {
  auto t = two_replicas();
  routing_settings settings;
  session_view s;
  s.min_lsn = 1500;
  auto d = route(classify("SELECT 1"), s, &t, settings, t0, 0);
  CHECK(d.reason == route_reason::read_your_writes);
  t.live->replay[2] = 1500;
  d = route(classify("SELECT 1"), s, &t, settings, t0, 0);
  CHECK(d.to_replica);
  CHECK(d.replica == "r2");
  settings.read_your_writes = false;
  s.min_lsn = 5000;
  CHECK(route(classify("SELECT 1"), s, &t, settings, t0, 0).to_replica);
}

TEST_CASE("live_positions: requests raise, never lower, and wake once", "[router][live]") {
  live_positions live(3);
  live.note_write(t0 + 5ms);
  live.note_write(t0 + 1ms);
  CHECK(live.write_at.load() == ticks(t0 + 5ms));
  CHECK(live.wake.load());
  live.want(700);
  live.want(600);
  CHECK(live.wanted.load() == 700);
  CHECK(live.replayed(7) == 0);  // out of range: nothing known
}

TEST_CASE("user_functions_called: user functions, not built-ins", "[router][live]") {
  CHECK(user_functions_called("SELECT add_row(1), count(*), now() FROM t") == std::vector<std::string>{"add_row"});
  CHECK(user_functions_called("select App.Add_Row(), pg_catalog.lower('x'), upper(f2(1))") ==
        std::vector<std::string>{"app.add_row", "f2"});
  CHECK(user_functions_called("SELECT f(); SELECT f()") == std::vector<std::string>{"f"});
  CHECK(user_functions_called("SELECT (").empty());
}
