// Routing: reads go to an eligible replica, everything unsure to the primary.
#include "pgrelay/router/route.hpp"

#include <vector>

namespace pgrelay::router {

std::string_view to_string(route_reason r) {
  switch (r) {
    case route_reason::routing_off: return "routing_off";
    case route_reason::write: return "write";
    case route_reason::transaction: return "transaction";
    case route_reason::hint_primary: return "hint_primary";
    case route_reason::read_to_replica: return "read_to_replica";
    case route_reason::read_your_writes: return "read_your_writes";
    case route_reason::no_eligible_replica: return "no_eligible_replica";
    case route_reason::no_eligible_replica_error: return "no_eligible_replica_error";
    case route_reason::no_topology: return "no_topology";
  }
  return "unknown";
}

namespace {

bool has_role(const replica_view& r, std::string_view role) {
  for (const auto& x : r.roles) {
    if (x == role) return true;
  }
  return false;
}

decision primary(route_reason why) { return decision{false, {}, why}; }

}  // namespace

decision route(const classification& stmt, const session_view& session, const topology* topo,
               const routing_settings& settings, clock::time_point now, std::uint64_t pick) {
  if (!settings.enabled) return primary(route_reason::routing_off);
  if (stmt.hint == "primary") return primary(route_reason::hint_primary);
  bool read = stmt.kind == statement_kind::read_only || (stmt.begin_read_only && stmt.kind != statement_kind::write &&
                                                        stmt.kind != statement_kind::parse_error);
  if (!read) {
    return primary(stmt.begin ? route_reason::transaction : route_reason::write);
  }
  if (!topo) return primary(route_reason::no_topology);
  if (topo->replicas.empty()) return primary(route_reason::routing_off);
  std::string_view role = stmt.hint.empty() || stmt.hint == "replica" ? std::string_view("read") : stmt.hint;

  std::vector<const replica_view*> eligible_now;
  bool any_lag_ok = false;
  for (const auto& r : topo->replicas) {
    if (!has_role(r, role)) continue;
    if (!eligible(*topo, r, now)) continue;
    if (session.max_staleness && r.sample.replay_delay > *session.max_staleness) continue;
    any_lag_ok = true;
    if (settings.read_your_writes && session.min_lsn != 0 && r.sample.replay_lsn < session.min_lsn) continue;
    eligible_now.push_back(&r);
  }
  if (!eligible_now.empty()) {
    const auto* r = eligible_now[pick % eligible_now.size()];
    return decision{true, r->name, route_reason::read_to_replica};
  }
  if (any_lag_ok) return primary(route_reason::read_your_writes);
  return primary(settings.fallback_to_primary ? route_reason::no_eligible_replica
                                              : route_reason::no_eligible_replica_error);
}

}  // namespace pgrelay::router
