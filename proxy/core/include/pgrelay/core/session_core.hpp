// Everything one client session knows and decides apart from its connections. The proxy's
// client_session keeps the sockets, buffers, operations in flight and the borrowed server, feeds
// this what happens, and carries out what its parts decide:
//   - who the client is and how it is served (client_identity);
//   - its settings, SETs waiting for their transaction, pins, and what a server needs before it
//     changes hands (session_ledger);
//   - its prepared statements, in transaction mode (client_statements);
//   - its requests, transactions and deadlines (session_timeline);
//   - what routing remembers from one unit to the next (routing_memory);
//   - what only the request running now uses (running_request): its text for the slow-request
//     log (request_text) and a replica read's copy, kept to replay once (replica_replay).
#pragma once

#include <memory>
#include <optional>

#include "pgrelay/core/client_identity.hpp"
#include "pgrelay/core/disconnect_reason.hpp"
#include "pgrelay/core/prepared_statements.hpp"
#include "pgrelay/core/replica_replay.hpp"
#include "pgrelay/core/request_text.hpp"
#include "pgrelay/core/routing_memory.hpp"
#include "pgrelay/core/session_ledger.hpp"
#include "pgrelay/core/session_pins.hpp"
#include "pgrelay/core/session_timeline.hpp"

namespace pgrelay::core {

struct session_core {
  explicit session_core(session_clock::time_point connected) : timeline(connected) {}

  client_identity who;
  session_ledger ledger;
  std::optional<client_statements> statements;  // transaction mode only
  session_timeline timeline;
  routing_memory routing;
  disconnect_reason reason = disconnect_reason::client_eof;
  bool counted_client = false;      // counted in its pool's client budget: uncounted at the end
  bool waiting_for_server = false;  // in a pool's queue now

  struct running_request {
    request_text text;
    replica_replay replay;
  };
  // Never null but while the client is parked (between release_request_storage and wake).
  running_request& running() { return *running_; }
  const running_request& running() const { return *running_; }
  bool holds_running_request() const { return running_ != nullptr; }

  // The client is idle between requests and parks: frees what only a running request keeps,
  // which would otherwise stay with every idle client (112 bytes, and their storage: a request
  // text copied for the slow-request log, up to 2 KB; a replica read's copy, up to 64 KiB), and
  // the settings key's storage (some 250 bytes for a driver's startup settings, rebuilt at the
  // next checkout).
  void release_request_storage() {
    running_.reset();
    ledger.release_key();
  }
  // The client woke from parking: its next request starts from nothing.
  void wake() {
    if (!running_) running_ = std::make_unique<running_request>();
  }

  // Reasons in `pins` the session was not pinned for before: each is logged and counted once.
  pin_set first_pins(pin_set pins) {
    const pin_set fresh = pins & ~pins_seen_;
    pins_seen_ |= pins;
    return fresh;
  }

 private:
  pin_set pins_seen_ = 0;
  std::unique_ptr<running_request> running_ = std::make_unique<running_request>();
};

}  // namespace pgrelay::core
