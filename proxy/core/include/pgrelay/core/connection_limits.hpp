// max_db_connections / max_user_connections: server connections counted per database and per
// user across every pool and worker. Lock-free counters the workers share; no clock, no I/O.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace pgrelay::core {

// One database's or one user's server connections, process-wide.
struct limit_counter {
  std::atomic<std::uint32_t> used{0};
  // Pools whose clients wait for a slot of this limit: idle servers elsewhere then close instead
  // of holding slots until server_idle_timeout.
  std::atomic<std::uint32_t> waiting{0};
};

enum class limit_verdict { granted, database_full, user_full };

// Takes one server connection against both counters, or neither: a database slot taken before
// the user's turned out full is given back, so a refused attempt leaves no trace. `max` 0 means
// unlimited (the connection is still counted, for when a reload sets a limit).
[[nodiscard]] limit_verdict take_connection(limit_counter& database, std::uint32_t database_max,
                                            limit_counter& user, std::uint32_t user_max);
// Gives back what a granted take_connection took.
void give_back_connection(limit_counter& database, limit_counter& user);

// What a client waiting for a server is told when a limit kept it waiting past wait_timeout
// (SQLSTATE 53300): which limit, its value, and the knob to change.
[[nodiscard]] std::string limit_message(limit_verdict why, const std::string& database, const std::string& user,
                                        std::uint32_t max);

}  // namespace pgrelay::core
