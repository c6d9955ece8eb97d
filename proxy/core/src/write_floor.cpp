#include "pgrelay/core/write_floor.hpp"

#include <algorithm>

#include "pgrelay/router/live_positions.hpp"

namespace pgrelay::core {

router::lsn write_floor::floor(const router::topology* topo, std::int64_t scope_write) {
  if (unplaced_own_ != none_unplaced) {
    auto pos = topo ? router::covering_position(*topo, unplaced_own_) : std::nullopt;
    if (!pos) return unknown;
    own_lsn_ = std::max(own_lsn_, *pos);
    unplaced_own_ = none_unplaced;
  }
  if (scope_write > scope_placed_) {
    auto pos = topo ? router::covering_position(*topo, router::from_ticks(scope_write)) : std::nullopt;
    if (!pos) return unknown;
    scope_lsn_ = std::max(scope_lsn_, *pos);
    scope_placed_ = scope_write;
  }
  return std::max(own_lsn_, scope_lsn_);
}

}  // namespace pgrelay::core
