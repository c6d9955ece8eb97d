// Whether a server may change hands while CancelRequests for its backend are on their way. A
// cancel is a signal the postmaster sends whenever it gets to it: a server lent to the next
// client before that would lose the next client's query to it. Pure bookkeeping, no I/O.
#pragma once

#include <cstdint>

#include "pgrelay/core/request_tracker.hpp"

namespace pgrelay::core {

// How the connection carrying one CancelRequest ended.
enum class cancel_outcome : std::uint8_t {
  delivered,  // the postmaster closed it: it has signalled the backend, if at all
  dropped,    // the request never reached the postmaster whole: nothing will be signalled
  lost,       // written, then no word: a signal may still come at any time
};

class cancel_guard {
 public:
  void on_sent() { ++in_flight_; }
  void on_finished(cancel_outcome o) {
    if (in_flight_ > 0) --in_flight_;
    if (o == cancel_outcome::lost) tainted_ = true;
  }

  std::uint32_t in_flight() const { return in_flight_; }
  // A lost cancel may still hit whichever query runs next: no other client may ever get it.
  bool tainted() const { return tainted_; }
  // Another client may have the server only when no signal can still arrive for its backend.
  bool may_hand_on() const { return in_flight_ == 0 && !tainted_; }

 private:
  std::uint32_t in_flight_ = 0;
  bool tainted_ = false;
};

// A client's cancel is forwarded only while its own request runs on the server. When the server
// owes the client nothing, the backend is idle (where Postgres ignores a cancel anyway) or, in
// transaction mode, about to run the next client's query.
inline bool should_forward_cancel(const request_tracker& t) { return !t.awaiting_client(); }

// What a pool does with a server handed back as `clean` (quiet, reusable as far as the
// session knows).
enum class release_action : std::uint8_t {
  reuse,  // idle it or hand it to a waiter
  hold,   // keep it from everyone until its cancels end (bounded by the caller)
  close,
};

inline release_action decide_release(bool clean, const cancel_guard& g) {
  if (!clean || g.tainted()) return release_action::close;
  return g.in_flight() > 0 ? release_action::hold : release_action::reuse;
}

}  // namespace pgrelay::core
