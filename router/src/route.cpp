// Routing: reads go to an eligible replica, everything unsure to the primary.
#include "pgrelay/router/route.hpp"

#include <algorithm>
#include <cstdint>

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

// A read-only statement, or one of a transaction begun READ ONLY that may run there.
bool is_read(const classification& stmt) {
  return stmt.kind == statement_kind::read_only ||
         (stmt.begin_read_only && stmt.kind != statement_kind::write && stmt.kind != statement_kind::parse_error);
}

// The replica role a read asks for: from its hint, else from the first rule that applies
// (`rule` its index, -1 for none), which may also send it to the primary.
struct role_choice {
  std::string_view role = "read";
  int rule = -1;
  bool to_primary = false;
};

role_choice choose_role(const classification& stmt, const session_view& session, const routing_settings& settings) {
  role_choice c;
  if (!stmt.hint.empty()) {
    if (stmt.hint != "replica") c.role = stmt.hint;
    return c;
  }
  for (std::size_t i = 0; i < settings.rules.size(); ++i) {
    if (!rule_applies(settings.rules[i], stmt, session)) continue;
    c.rule = static_cast<int>(i);
    if (settings.rules[i].target == "primary") {
      c.to_primary = true;
    } else {
      c.role = settings.rules[i].target;
    }
    break;
  }
  return c;
}

// Which replicas may take a read: `usable` ones have the role, are eligible and fresh enough;
// of those, `caught_up` ones replayed the read's read-your-writes position (`min_lsn`, 0: none).
struct replica_filter {
  const topology& topo;
  std::string_view role;
  clock::time_point now;
  std::optional<std::chrono::milliseconds> staleness;
  lsn min_lsn;

  bool usable(const replica_view& r) const {
    return has_role(r, role) && eligible(topo, r, now) && !(staleness && r.sample.replay_delay > *staleness);
  }
  bool caught_up(const replica_view& r) const {
    if (min_lsn == 0) return true;
    // The prober's position is fresher than the round's between rounds, the round's after a
    // prober restart: whichever is higher was replayed.
    const lsn live = topo.live ? topo.live->replayed(r.server_index) : 0;
    return std::max(r.sample.replay_lsn, live) >= min_lsn;
  }
};

// The `pick`-th usable, caught-up replica (modulo their number), or why there is none. The
// first 64 replicas' verdicts are kept in a mask, so that the second pass judges only those
// beyond (no allocation per statement).
void pick_replica(decision& d, const replica_filter& f, bool fallback_to_primary, std::uint64_t pick) {
  std::size_t count = 0;
  bool any_lag_ok = false;
  std::uint64_t chosen = 0;
  const auto& replicas = f.topo.replicas;
  for (std::size_t i = 0; i < replicas.size(); ++i) {
    if (!f.usable(replicas[i])) continue;
    any_lag_ok = true;
    if (!f.caught_up(replicas[i])) continue;
    ++count;
    if (i < 64) chosen |= std::uint64_t{1} << i;
  }
  if (count == 0) {
    if (any_lag_ok) {
      d.reason = route_reason::read_your_writes;
    } else {
      d.reason = fallback_to_primary ? route_reason::no_eligible_replica : route_reason::no_eligible_replica_error;
    }
    return;
  }
  std::size_t nth = pick % count;
  for (std::size_t i = 0; i < replicas.size(); ++i) {
    const bool ok = i < 64 ? ((chosen >> i) & 1) != 0 : f.usable(replicas[i]) && f.caught_up(replicas[i]);
    if (ok && nth-- == 0) {
      d.replica = replicas[i].name;
      break;
    }
  }
  d.to_replica = true;
  d.reason = route_reason::read_to_replica;
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
  if (!stmt.hint.empty() && stmt.hint == "primary") return primary(route_reason::hint_primary);
  if (!is_read(stmt)) return primary(stmt.begin ? route_reason::transaction : route_reason::write);
  const auto choice = choose_role(stmt, session, settings);
  if (choice.to_primary) return primary(route_reason::rule_primary, choice.rule);
  decision d;
  d.role.assign(choice.role);
  d.rule = choice.rule;
  if (!topo || topo->replicas.empty()) {
    d.reason = topo ? route_reason::routing_off : route_reason::no_topology;
    return d;
  }
  const replica_filter filter{*topo, choice.role, now, stmt.hint_max_lag ? stmt.hint_max_lag : session.max_staleness,
                              settings.read_your_writes ? session.min_lsn : 0};
  d.staleness = filter.staleness;
  pick_replica(d, filter, settings.fallback_to_primary, pick);
  return d;
}

}  // namespace pgrelay::router
