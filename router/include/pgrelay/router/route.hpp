// The routing decision: a pure function of the statement, the client's session, the latest
// topology and the database's routing settings. proxy/ acts on it; it never acts itself.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
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
  rule_primary,           // a routing rule sends this client's reads to the primary
  // Counted by proxy/, never returned by route():
  read_your_writes_waited,    // a read waited (routing.read_your_writes_wait) and got a replica
  retried_read_only,          // a replica answered 25006: re-run on the primary
  retried_recovery_conflict,  // a replica cancelled it (40001/40P01, recovery conflict): re-run
  retried_replica_failed,     // the replica was unreachable or died before answering: re-run
};
inline constexpr std::size_t route_reason_count = 14;
std::string_view to_string(route_reason r);

struct session_view {
  lsn min_lsn = 0;  // read-your-writes: a position at or after the last commit in the read's scope
  std::optional<std::chrono::milliseconds> max_staleness;  // per-session budget (SET pgrelay.max_lag)
  std::string_view user;
  std::string_view application_name;
};

// Which reads a rule applies to: any, autocommit read-only statements, or BEGIN READ ONLY
// transactions. Rules never place writes: those go to the primary whatever the rules say.
enum class rule_kind : std::uint8_t { any, statement, transaction };

// A DBA's rule: reads of clients matching every set field go to `target` ("primary" or a replica
// role). `user` and `application_name` match exactly, or by glob where `*` matches any run of
// characters; empty matches everything.
struct routing_rule {
  std::string user;
  std::string application_name;
  rule_kind kind = rule_kind::any;
  std::string target;
};

struct routing_settings {
  bool enabled = true;
  bool read_your_writes = true;
  bool fallback_to_primary = true;
  std::span<const routing_rule> rules;
};

struct decision {
  bool to_replica = false;
  std::string replica;  // its name when to_replica
  route_reason reason = route_reason::write;
  std::string role;     // the replica role reads were meant for (empty for writes)
  int rule = -1;        // the index of the rule that chose the role or the primary, if any
  std::optional<std::chrono::milliseconds> staleness;  // the budget applied, if any
};

// True if `text` matches `pattern` (`*` matches any run of characters, even empty).
bool glob_match(std::string_view pattern, std::string_view text);

// Where a unit goes. In order: routing off → primary; hint route=primary → primary; writes and
// read-write transactions → primary; hint route=ROLE → that role; the first matching rule → the
// primary or its role; otherwise role "read". Among the role's replicas, the eligible ones (health,
// lag limits, the staleness budget: the statement's max_lag hint, else the session's) that have
// replayed the client's last commit are candidates, and candidate number `pick` modulo their
// count gets the read (the caller's counter per statement, or a fixed number per client to keep
// it on one replica). None: read_your_writes if only that kept them out, else the fallback.
decision route(const classification& stmt, const session_view& session, const topology* topo,
               const routing_settings& settings, clock::time_point now, std::uint64_t pick);

}  // namespace pgrelay::router
