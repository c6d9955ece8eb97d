// Per-database and per-user server connection counts: compare-and-swap so that no two workers
// both take the last slot.
#include "pgrelay/core/connection_limits.hpp"

namespace pgrelay::core {

namespace {

bool take_one(limit_counter& c, std::uint32_t max) {
  auto cur = c.used.load(std::memory_order_relaxed);
  for (;;) {
    if (max != 0 && cur >= max) return false;
    if (c.used.compare_exchange_weak(cur, cur + 1)) return true;
  }
}

}  // namespace

limit_verdict take_connection(limit_counter& database, std::uint32_t database_max, limit_counter& user,
                              std::uint32_t user_max) {
  if (!take_one(database, database_max)) return limit_verdict::database_full;
  if (!take_one(user, user_max)) {
    database.used.fetch_sub(1);
    return limit_verdict::user_full;
  }
  return limit_verdict::granted;
}

void give_back_connection(limit_counter& database, limit_counter& user) {
  database.used.fetch_sub(1);
  user.used.fetch_sub(1);
}

std::string limit_message(limit_verdict why, const std::string& database, const std::string& user,
                          std::uint32_t max) {
  if (why == limit_verdict::database_full) {
    return "too many server connections for database \"" + database + "\" (max_db_connections " +
           std::to_string(max) + ")";
  }
  return "too many server connections for user \"" + user + "\" (max_user_connections " + std::to_string(max) + ")";
}

}  // namespace pgrelay::core
