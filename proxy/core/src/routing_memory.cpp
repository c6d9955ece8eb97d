#include "pgrelay/core/routing_memory.hpp"

#include "pgrelay/router/session_effects.hpp"

namespace pgrelay::core {

routing_memory::staleness routing_memory::staleness_budget(const session_ledger& ledger) {
  const auto* set = ledger.replayed_set("pgrelay.max_lag");
  if (!set) return {};
  if (staleness_ && *set == staleness_->sql) return {staleness_->budget, false};
  if (!staleness_) staleness_ = std::make_unique<parsed_staleness>();
  staleness_->sql = *set;
  staleness_->budget = router::parse_staleness(router::analyze_session_effects(staleness_->sql).set_value);
  return {staleness_->budget, !staleness_->budget};
}

}  // namespace pgrelay::core
