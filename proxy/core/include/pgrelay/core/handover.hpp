// When a borrowed server may go back to its pool in transaction mode: the one place that says
// so, for the relay and for tests. A server changes hands only at a message boundary on both
// sides, with nothing owed in either direction and no session state of the client on it.
#pragma once

#include "pgrelay/core/request_tracker.hpp"

namespace pgrelay::core {

struct link_facts {
  bool client_mid_frame = false;   // a client frame is partly forwarded to the server
  bool server_mid_frame = false;   // a server frame is partly relayed to the client
  bool server_bytes_left = false;  // server bytes read but not yet relayed to the client
  bool writes_in_flight = false;   // either direction still has a write outstanding
  bool session_state = false;      // the client keeps state on this server (pinned, session mode)
};

// True when nothing ties the server to its client any more.
inline bool may_hand_over(const request_tracker& tracker, const link_facts& f) {
  return tracker.quiet() && !f.client_mid_frame && !f.server_mid_frame && !f.server_bytes_left &&
         !f.writes_in_flight && !f.session_state;
}

// Only the client's own frame, cut between what went out and what has not arrived, keeps a
// quiet server. Such a frame is one Postgres reads to its end and ignores (CopyData after its
// COPY ended: every other frame leaves something owed until answered), so when the client is
// slow to finish it the server may be closed instead and the rest of the frame dropped.
inline bool held_only_by_cut_frame(const request_tracker& tracker, link_facts f) {
  if (!f.client_mid_frame) return false;
  f.client_mid_frame = false;
  return may_hand_over(tracker, f);
}

}  // namespace pgrelay::core
