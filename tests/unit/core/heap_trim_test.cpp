// When the heap's free pages go back to the system after logins.
#include <catch2/catch.hpp>

#include "pgrelay/core/heap_trim.hpp"

using pgrelay::core::heap_trim_policy;

TEST_CASE("a few logins never trim, and a quiet sweep after enough of them trims once") {
  heap_trim_policy p;
  CHECK_FALSE(p.due(0, 0));
  CHECK_FALSE(p.due(heap_trim_policy::min_logins - 1, 0));
  CHECK(p.due(heap_trim_policy::min_logins, 0));
  CHECK_FALSE(p.due(heap_trim_policy::min_logins, 0));  // nothing new since
  CHECK_FALSE(p.due(heap_trim_policy::min_logins + 50, 0));
}

TEST_CASE("logins in flight hold the trim back until a burst's worth has gone by") {
  heap_trim_policy p;
  CHECK_FALSE(p.due(500, 3));
  CHECK_FALSE(p.due(999, 200));
  CHECK(p.due(1000, 200));  // a stream that never goes quiet still trims every burst
  CHECK_FALSE(p.due(1500, 1));
  CHECK(p.due(1500, 0));  // the stream went quiet
  CHECK_FALSE(p.due(1500, 0));
}
