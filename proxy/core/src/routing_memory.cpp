#include "pgrelay/core/routing_memory.hpp"

#include "pgrelay/router/session_effects.hpp"

namespace pgrelay::core {

routing_memory::staleness routing_memory::staleness_budget(const session_ledger& ledger) {
  const auto* set = ledger.replayed_set("pgrelay.max_lag");
  if (!set) return {};
  if (*set == staleness_sql_) return {staleness_, false};
  staleness_sql_ = *set;
  staleness_ = router::parse_staleness(router::analyze_session_effects(staleness_sql_).set_value);
  return {staleness_, !staleness_};
}

}  // namespace pgrelay::core
