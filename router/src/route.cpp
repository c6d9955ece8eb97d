// Routing: reads go to an eligible replica, everything unsure to the primary.
#include "pgrelay/router/route.hpp"

#include <algorithm>

#include "pgrelay/router/live_positions.hpp"

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
    case route_reason::rule_primary: return "rule_primary";
    case route_reason::read_your_writes_waited: return "read_your_writes_waited";
    case route_reason::retried_read_only: return "retried_read_only";
    case route_reason::retried_recovery_conflict: return "retried_recovery_conflict";
    case route_reason::retried_replica_failed: return "retried_replica_failed";
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

decision primary(route_reason why, int rule = -1) {
  decision d;
  d.reason = why;
  d.rule = rule;
  return d;
}

bool rule_applies(const routing_rule& r, const classification& stmt, const session_view& s) {
  if (r.kind == rule_kind::statement && stmt.begin) return false;
  if (r.kind == rule_kind::transaction && !stmt.begin) return false;
  if (!r.user.empty() && !glob_match(r.user, s.user)) return false;
  if (!r.application_name.empty() && !glob_match(r.application_name, s.application_name)) return false;
  return true;
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view text) {
  // Iterative wildcard match with one backtrack point: linear in practice, no recursion.
  std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

decision route(const classification& stmt, const session_view& session, const topology* topo,
               const routing_settings& settings, clock::time_point now, std::uint64_t pick) {
  if (!settings.enabled) return primary(route_reason::routing_off);
  if (stmt.hint == "primary") return primary(route_reason::hint_primary);
  bool read = stmt.kind == statement_kind::read_only || (stmt.begin_read_only && stmt.kind != statement_kind::write &&
                                                        stmt.kind != statement_kind::parse_error);
  if (!read) {
    return primary(stmt.begin ? route_reason::transaction : route_reason::write);
  }
  std::string_view role = "read";
  int rule = -1;
  if (!stmt.hint.empty() && stmt.hint != "replica") {
    role = stmt.hint;
  } else if (stmt.hint.empty()) {
    for (std::size_t i = 0; i < settings.rules.size(); ++i) {
      if (!rule_applies(settings.rules[i], stmt, session)) continue;
      rule = static_cast<int>(i);
      if (settings.rules[i].target == "primary") return primary(route_reason::rule_primary, rule);
      role = settings.rules[i].target;
      break;
    }
  }
  decision d;
  d.role = std::string(role);
  d.rule = rule;
  if (!topo || topo->replicas.empty()) {
    d.reason = topo ? route_reason::routing_off : route_reason::no_topology;
    return d;
  }
  auto staleness = stmt.hint_max_lag ? stmt.hint_max_lag : session.max_staleness;

  // Two passes over the (few) replicas instead of collecting them: no allocation per statement.
  auto usable = [&](const replica_view& r) {
    return has_role(r, role) && eligible(*topo, r, now) && !(staleness && r.sample.replay_delay > *staleness);
  };
  auto caught_up = [&](const replica_view& r) {
    if (!settings.read_your_writes || session.min_lsn == 0) return true;
    // The prober's position is fresher than the round's between rounds, the round's after a
    // prober restart: whichever is higher was replayed.
    const lsn live = topo->live ? topo->live->replayed(r.server_index) : 0;
    return std::max(r.sample.replay_lsn, live) >= session.min_lsn;
  };
  std::size_t count = 0;
  bool any_lag_ok = false;
  for (const auto& r : topo->replicas) {
    if (!usable(r)) continue;
    any_lag_ok = true;
    if (caught_up(r)) ++count;
  }
  d.staleness = staleness;
  if (count > 0) {
    std::size_t nth = pick % count;
    for (const auto& r : topo->replicas) {
      if (!usable(r) || !caught_up(r)) continue;
      if (nth-- == 0) {
        d.replica = r.name;
        break;
      }
    }
    d.to_replica = true;
    d.reason = route_reason::read_to_replica;
  } else if (any_lag_ok) {
    d.reason = route_reason::read_your_writes;
  } else {
    d.reason = settings.fallback_to_primary ? route_reason::no_eligible_replica : route_reason::no_eligible_replica_error;
  }
  return d;
}

}  // namespace pgrelay::router
