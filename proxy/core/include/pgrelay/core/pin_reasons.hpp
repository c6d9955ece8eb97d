// Why a transaction-mode client keeps its server: one row per reason, the single list behind
// the log lines, the rejection message, SHOW PINS, /metrics and the YAML policy key.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pgrelay::core {

enum class pin_reason : std::uint8_t {
  listen,
  advisory_lock,
  temp_table,
  with_hold_cursor,
  set_role,
  sql_prepare,
  set_in_transaction,
};

struct pin_reason_info {
  pin_reason reason;
  std::string_view name;        // SHOW PINS, the metric label, log lines
  std::string_view construct;   // what the client did, in the 0A000 message
  std::string_view policy_key;  // session_state.<key> in the YAML
};

inline constexpr std::array pin_reasons{
    pin_reason_info{pin_reason::listen, "listen", "LISTEN", "listen"},
    pin_reason_info{pin_reason::advisory_lock, "advisory_lock", "session-level advisory locks", "advisory_locks"},
    pin_reason_info{pin_reason::temp_table, "temp_table", "temporary tables", "temp_tables"},
    pin_reason_info{pin_reason::with_hold_cursor, "with_hold_cursor", "DECLARE ... WITH HOLD", "with_hold_cursors"},
    pin_reason_info{pin_reason::set_role, "set_role", "SET ROLE / SET SESSION AUTHORIZATION", "set_role"},
    pin_reason_info{pin_reason::sql_prepare, "sql_prepare", "SQL-level PREPARE", "sql_prepare"},
    pin_reason_info{pin_reason::set_in_transaction, "set_in_transaction", "SET inside a transaction block",
                    "set_in_transaction"},
};
inline constexpr std::size_t pin_reason_count = pin_reasons.size();

constexpr bool rows_follow_the_enum() {
  for (std::size_t i = 0; i < pin_reasons.size(); ++i) {
    if (static_cast<std::size_t>(pin_reasons[i].reason) != i) return false;
  }
  return true;
}
static_assert(rows_follow_the_enum(), "pin_reasons must list every reason once, in enum order");
static_assert(static_cast<std::size_t>(pin_reason::set_in_transaction) + 1 == pin_reason_count,
              "a pin_reason without a row");

constexpr const pin_reason_info& info(pin_reason r) { return pin_reasons[static_cast<std::size_t>(r)]; }
constexpr std::string_view to_string(pin_reason r) { return info(r).name; }
constexpr std::uint32_t bit(pin_reason r) { return 1u << static_cast<unsigned>(r); }

}  // namespace pgrelay::core
