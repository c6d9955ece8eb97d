// Read-your-writes for one client: the primary WAL position a replica must have replayed before
// it may serve this client's next read. The client's own writes are known as instants (when
// pgrelay saw them commit) and become positions once the health checker or the position prober
// has asked the primary after them; until then no replica can be shown to hold them.
#pragma once

#include <cstdint>
#include <limits>

#include "pgrelay/router/topology.hpp"

namespace pgrelay::core {

class write_floor {
 public:
  // What floor() answers while a write is not yet placed: above every replica's position.
  static constexpr router::lsn unknown = std::numeric_limits<router::lsn>::max();

  // A write of this client committed at `at` (read_your_writes: session; with a user or database
  // scope the write goes to the scope's shared slot instead and comes back through floor()).
  void note_own_write(router::clock::time_point at) { unplaced_own_ = at; }

  // The floor for the next read: the client's own last write and its scope's last write
  // (`scope_write`, the slot's ticks; 0: none), each turned into a position through `topo`.
  // `unknown` while either is too recent to have a position (or there is no topology yet).
  router::lsn floor(const router::topology* topo, std::int64_t scope_write);

 private:
  // No write waits to be placed: the clock's first instant, which no commit is seen at (an
  // optional would pad every idle client's memory by eight bytes).
  static constexpr router::clock::time_point none_unplaced = router::clock::time_point::min();
  router::lsn own_lsn_ = 0;
  router::clock::time_point unplaced_own_ = none_unplaced;
  std::int64_t scope_placed_ = 0;  // the latest scope write already turned into scope_lsn_
  router::lsn scope_lsn_ = 0;
};

}  // namespace pgrelay::core
