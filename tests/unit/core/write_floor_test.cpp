// Read-your-writes floors: a write counts from the first primary position asked after it, no
// replica qualifies before that, and a floor never goes back down.
#include <catch2/catch.hpp>

#include <memory>

#include "pgrelay/core/write_floor.hpp"
#include "pgrelay/router/live_positions.hpp"

using pgrelay::core::write_floor;
using namespace pgrelay::router;
using namespace std::chrono_literals;

namespace {

const clock::time_point t0 = clock::time_point{} + 1h;

topology marks(std::vector<primary_mark> m) {
  topology t;
  t.primary_marks = std::move(m);
  return t;
}

}  // namespace

TEST_CASE("write_floor: no write, no floor", "[core][write_floor]") {
  write_floor f;
  auto t = marks({{t0, 1000}});
  CHECK(f.floor(&t, 0) == 0);
  CHECK(f.floor(nullptr, 0) == 0);
}

TEST_CASE("write_floor: an own write is unknown until the primary is asked after it", "[core][write_floor]") {
  write_floor f;
  f.note_own_write(t0 + 1ms);
  auto before = marks({{t0, 1000}});
  CHECK(f.floor(&before, 0) == write_floor::unknown);
  CHECK(f.floor(nullptr, 0) == write_floor::unknown);
  auto after = marks({{t0, 1000}, {t0 + 2ms, 1200}, {t0 + 3ms, 1300}});
  CHECK(f.floor(&after, 0) == 1200);  // the first position asked after the write
  // Placed once: a later topology that no longer keeps the mark keeps the floor.
  auto later = marks({{t0 + 50ms, 5000}});
  CHECK(f.floor(&later, 0) == 1200);
}

TEST_CASE("write_floor: the prober's fresher position places a write between rounds", "[core][write_floor]") {
  write_floor f;
  auto t = marks({{t0, 1000}});
  t.live = std::make_shared<live_positions>(1);
  f.note_own_write(t0 + 1ms);
  CHECK(f.floor(&t, 0) == write_floor::unknown);
  t.live->mark_lsn = 1100;
  t.live->mark_asked_at = ticks(t0 + 2ms);
  CHECK(f.floor(&t, 0) == 1100);
}

TEST_CASE("write_floor: the scope's writes count as well, the higher floor wins", "[core][write_floor]") {
  write_floor f;
  auto t = marks({{t0, 1000}, {t0 + 5ms, 1500}, {t0 + 10ms, 2000}});
  f.note_own_write(t0 - 1ms);
  CHECK(f.floor(&t, 0) == 1000);
  CHECK(f.floor(&t, ticks(t0 + 4ms)) == 1500);  // another client of the scope wrote later
  CHECK(f.floor(&t, ticks(t0 + 4ms)) == 1500);  // asked again: the same
  CHECK(f.floor(&t, ticks(t0 + 11ms)) == write_floor::unknown);  // not asked after it yet
  auto t2 = marks({{t0 + 12ms, 2400}});
  CHECK(f.floor(&t2, ticks(t0 + 11ms)) == 2400);
  // An own write older than the scope's: the floor does not go back down.
  f.note_own_write(t0 + 1ms);
  CHECK(f.floor(&t, ticks(t0 + 11ms)) == 2400);
}
