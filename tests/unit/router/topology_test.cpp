// Lag arithmetic and replica eligibility over a hand-built topology snapshot.
#include <catch2/catch.hpp>

#include "pgrelay/router/topology.hpp"

using namespace pgrelay::router;
using namespace std::chrono_literals;

namespace {

const clock::time_point t0 = clock::time_point{} + 1h;

// A primary at `head`, one replica replayed up to `replayed`, sampled at t0, within limits.
topology make(lsn head, lsn replayed) {
  topology t;
  t.database = "app";
  t.check_interval = 1000ms;
  t.primary = server_sample{.name = "primary",
                            .reachable = true,
                            .in_recovery = false,
                            .receive_lsn = head,
                            .replay_lsn = head,
                            .replay_delay = 0ms,
                            .sampled_at = t0};
  replica_view r;
  r.name = "replica-1";
  r.roles = {"read"};
  r.limits = lag_limits{.max_bytes = 1000, .max_time = 500ms};
  r.sample = server_sample{.name = "replica-1",
                           .reachable = true,
                           .in_recovery = true,
                           .receive_lsn = replayed,
                           .replay_lsn = replayed,
                           .replay_delay = 0ms,
                           .sampled_at = t0};
  t.replicas.push_back(r);
  return t;
}

}  // namespace

TEST_CASE("parse_lsn reads the two hex halves", "[router][topology]") {
  CHECK(parse_lsn("0/0") == lsn{0});
  CHECK(parse_lsn("16/B374D848") == ((lsn{0x16} << 32) | 0xB374D848u));
  CHECK(parse_lsn("16/b374d848") == ((lsn{0x16} << 32) | 0xB374D848u));
  CHECK(parse_lsn("FFFFFFFF/FFFFFFFF") == ~lsn{0});
  CHECK(parse_lsn("0/3000148") == lsn{0x3000148});
}

TEST_CASE("parse_lsn rejects anything else", "[router][topology]") {
  for (const char* bad : {"", "/", "16/", "/B374D848", "16B374D848", "16/B374D848/1",
                          "16//B374D848", "g/0", "0/xyz", " 0/0", "0/0 ", "-1/0", "+1/0",
                          "123456789/0", "0/123456789", "0x16/0"}) {
    INFO(bad);
    CHECK_FALSE(parse_lsn(bad).has_value());
  }
}

TEST_CASE("lag_bytes is the primary's position minus the replica's replay", "[router][topology]") {
  auto t = make(5000, 4200);
  CHECK(lag_bytes(t, t.replicas[0]) == 800);
  t.replicas[0].sample.replay_lsn = 5000;
  CHECK(lag_bytes(t, t.replicas[0]) == 0);
  // A replica ahead of a stale primary sample is not behind at all.
  t.replicas[0].sample.replay_lsn = 6000;
  CHECK(lag_bytes(t, t.replicas[0]) == 0);
  // Across the 32-bit boundary of the textual form.
  t = make(*parse_lsn("1/00000010"), *parse_lsn("0/FFFFFFF0"));
  CHECK(lag_bytes(t, t.replicas[0]) == 0x20);
}

TEST_CASE("a healthy replica within its limits is eligible", "[router][topology]") {
  const auto t = make(5000, 4200);
  CHECK(eligible(t, t.replicas[0], t0));
  CHECK(eligible(t, t.replicas[0], t0 + 500ms));
}

TEST_CASE("each eligibility condition excludes on its own", "[router][topology]") {
  auto t = make(5000, 4200);
  auto& r = t.replicas[0];

  SECTION("unreachable") {
    r.sample.reachable = false;
    CHECK_FALSE(eligible(t, r, t0));
  }
  SECTION("not in recovery (promoted or misconfigured)") {
    r.sample.in_recovery = false;
    CHECK_FALSE(eligible(t, r, t0));
  }
  SECTION("byte lag: at the limit is fine, one byte over is not") {
    r.sample.replay_lsn = 4000;
    CHECK(eligible(t, r, t0));
    r.sample.replay_lsn = 3999;
    CHECK_FALSE(eligible(t, r, t0));
  }
  SECTION("time lag: at the limit is fine, over it is not") {
    r.sample.replay_delay = 500ms;
    CHECK(eligible(t, r, t0));
    r.sample.replay_delay = 501ms;
    CHECK_FALSE(eligible(t, r, t0));
  }
}

TEST_CASE("a sample older than three check intervals is stale", "[router][topology]") {
  auto t = make(5000, 5000);
  const auto& r = t.replicas[0];
  CHECK(eligible(t, r, t0 + 3000ms));
  CHECK_FALSE(eligible(t, r, t0 + 3001ms));
  t.check_interval = 2000ms;
  CHECK(eligible(t, r, t0 + 6000ms));
  CHECK_FALSE(eligible(t, r, t0 + 6001ms));
  // A `now` slightly older than the sample is not stale.
  CHECK(eligible(t, r, t0 - 10ms));
}

TEST_CASE("an idle primary does not make a caught-up replica look late", "[router][topology]") {
  // No writes for an hour: the last replayed commit is old, but nothing is pending, so the
  // checker reports a replay delay of 0 and the byte lag is 0.
  auto t = make(0x3000148, 0x3000148);
  t.replicas[0].sample.replay_delay = 0ms;
  CHECK(lag_bytes(t, t.replicas[0]) == 0);
  CHECK(eligible(t, t.replicas[0], t0 + 1s));
}

TEST_CASE("wal_history measures how long a replica has been behind", "[router][topology]") {
  wal_history h;
  CHECK(h.behind_for(0, t0) == 0ms);
  h.record(t0, 100);
  h.record(t0 + 1s, 100);  // idle: nothing new
  CHECK(h.size() == 1);
  h.record(t0 + 2s, 200);
  h.record(t0 + 3s, 300);
  CHECK(h.size() == 3);
  // Replayed everything the primary had: not behind, however old the last write.
  CHECK(h.behind_for(300, t0 + 1h) == 0ms);
  CHECK(h.behind_for(400, t0 + 4s) == 0ms);
  // Missing position 300 (first seen at 3s): behind for 500ms at 3.5s.
  CHECK(h.behind_for(250, t0 + 3500ms) == 500ms);
  CHECK(h.behind_for(150, t0 + 3500ms) == 1500ms);
  CHECK(h.behind_for(50, t0 + 3500ms) == 3500ms);
  // A `now` before the point counts as not late.
  CHECK(h.behind_for(250, t0 + 2s) == 0ms);
}

TEST_CASE("wal_history forgets old points without understating a delay", "[router][topology]") {
  wal_history h;
  for (int i = 0; i < 10; ++i) h.record(t0 + i * 1s, static_cast<lsn>(100 * (i + 1)));
  h.forget_before(t0 + 5s);  // points at 0..4s merge into one at 0s holding 500
  CHECK(h.size() == 6);
  CHECK(h.behind_for(50, t0 + 10s) == 10s);
  CHECK(h.behind_for(450, t0 + 10s) == 10s);  // overstated (truly 6s), beyond the window anyway
  CHECK(h.behind_for(550, t0 + 10s) == 5s);   // inside the window: exact
  CHECK(h.behind_for(1000, t0 + 10s) == 0ms);
  h.forget_before(t0 + 5s);
  CHECK(h.size() == 6);
  // A replica stuck for good keeps its delay growing even when the primary went idle long ago.
  h.forget_before(t0 + 1h);
  CHECK(h.size() == 1);
  CHECK(h.behind_for(50, t0 + 1h) == 1h);
}

TEST_CASE("position_after: the first primary mark asked at or after a write", "[router][topology]") {
  topology t = make(100, 100);
  CHECK_FALSE(position_after(t, t0).has_value());  // no mark yet: nothing proves a replica has it
  t.primary_marks = {{t0 + 1s, 500}, {t0 + 2s, 700}, {t0 + 3s, 900}};
  CHECK(position_after(t, t0) == 500);         // written before every mark: the earliest will do
  CHECK(position_after(t, t0 + 1s) == 500);    // asked at the very instant the write was seen
  CHECK(position_after(t, t0 + 1500ms) == 700);
  CHECK(position_after(t, t0 + 3s) == 900);
  // Written after the last mark: the checker has not asked since, so no position is known.
  CHECK_FALSE(position_after(t, t0 + 3001ms).has_value());
}
