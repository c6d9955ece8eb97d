// The routing decision: a pure function of the statement, the client's session, the latest
// topology and the database's routing settings. proxy/ acts on it; it never acts itself.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "pgrelay/router/classify.hpp"
#include "pgrelay/router/topology.hpp"

namespace pgrelay::router {

enum class route_reason : std::uint8_t {
  routing_off,            // routing disabled or no replicas configured
  write,                  // the statement may write (or could not be proven read-only)
  transaction,            // an explicit read-write transaction: the primary from its start
  hint_primary,           // /* pgrelay: route=primary */
  read_to_replica,        // a read-only statement or BEGIN READ ONLY, served by a replica
  read_your_writes,       // replicas have not replayed the client's last commit yet
  no_eligible_replica,    // none eligible (lag, health, stale sample): fallback to primary
  no_eligible_replica_error,  // none eligible and fallback: error
  no_topology,            // the checker has not reported yet
};
inline constexpr std::size_t route_reason_count = 9;
std::string_view to_string(route_reason r);

struct session_view {
  lsn min_lsn = 0;  // read-your-writes: a position at or after the client's last commit
  std::optional<std::chrono::milliseconds> max_staleness;  // per-session budget (SET pgrelay.max_lag)
};

struct routing_settings {
  bool enabled = true;
  bool read_your_writes = true;
  bool fallback_to_primary = true;
};

struct decision {
  bool to_replica = false;
  std::string replica;  // its name when to_replica
  route_reason reason = route_reason::write;
};

// `pick` spreads reads over the eligible replicas (round robin by the caller's counter).
// `role` narrows the replicas to those with that role ("read" unless a hint names another).
decision route(const classification& stmt, const session_view& session, const topology* topo,
               const routing_settings& settings, clock::time_point now, std::uint64_t pick);

}  // namespace pgrelay::router
