#include "pgrelay/core/replica_replay.hpp"

#include "pgrelay/protocol/frame.hpp"

namespace pgrelay::core {

bool replica_replay::keep(std::string_view unit, bool ends_unit) {
  bytes_.clear();
  if (unit.size() > max_kept) return false;
  bytes_.assign(unit);
  ends_unit_ = ends_unit;
  return true;
}

bool replica_replay::hold_answer(std::string_view answer, bool mid_frame) const {
  if (!kept() || !ends_unit_ || relayed_ || mid_frame) return false;
  return !answer.empty() && answer.size() < max_held_answer && !protocol::has_whole_frame(answer, 'Z');
}

}  // namespace pgrelay::core
