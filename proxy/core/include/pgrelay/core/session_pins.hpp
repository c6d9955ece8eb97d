// What a statement's session effects pin in transaction mode: state another server cannot be
// given (LISTEN, locks, temp objects, held cursors, roles, SQL PREPARE, a SET that cannot be
// replayed alone). Pure: the proxy applies each reason's policy (pin, warn, reject).
#pragma once

#include <cstdint>

#include "pgrelay/core/pin_reasons.hpp"
#include "pgrelay/router/session_effects.hpp"

namespace pgrelay::core {

// A set of pin reasons, one bit each (core::bit).
using pin_set = std::uint32_t;

constexpr pin_set pins_of(const router::session_effects& fx) {
  pin_set pins = 0;
  auto add = [&](bool present, pin_reason r) {
    if (present) pins |= bit(r);
  };
  add(fx.listen, pin_reason::listen);
  add(fx.advisory_lock, pin_reason::advisory_lock);
  add(fx.temp_table, pin_reason::temp_table);
  add(fx.with_hold_cursor, pin_reason::with_hold_cursor);
  add(fx.set_role, pin_reason::set_role);
  add(fx.sql_prepare, pin_reason::sql_prepare);
  // A SET among other statements, or one without a single setting name (SET SESSION
  // CHARACTERISTICS), cannot be replayed alone on the next server.
  add(fx.set && (fx.statements > 1 || fx.set_name.empty()), pin_reason::set_in_transaction);
  return pins;
}

constexpr bool contains(pin_set pins, pin_reason r) { return (pins & bit(r)) != 0; }

}  // namespace pgrelay::core
