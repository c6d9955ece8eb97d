// A client session's clock: when its request and its transaction started, how many
// transactions it ran, and which of its deadlines is due. The relay reports requests starting
// and ending; the deadlines (idle in transaction, query timeout with its cancel, a client frame
// left cut) are decided here, so that each is tested without a socket or a timer.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace pgrelay::core {

using session_clock = std::chrono::steady_clock;

struct relay_limits {
  std::chrono::milliseconds idle_in_transaction{0};  // 0: off
  std::chrono::milliseconds query{0};                // 0: off
  std::chrono::milliseconds cancel_grace{5000};      // after the cancel, before giving up on the server
  // How long a quiet server waits for the rest of a client frame it would ignore anyway before
  // it is closed instead (the rest is then dropped): the tail of an ordinary frame arrives well
  // within it, and a client that stalls mid-frame holds nobody's server for longer.
  std::chrono::milliseconds cut_frame_grace{500};
};

// What the relay knows now.
struct relay_facts {
  bool in_transaction = false;   // the server's last ReadyForQuery said T or E
  bool awaiting_client = false;  // ... and nothing is outstanding: the server waits for the client
  bool request_outstanding = false;
  bool cancel_sent = false;                            // this relay already cancelled the query
  std::optional<session_clock::time_point> cut_since;  // a client frame cut since then
  bool server_write_busy = false;
};

enum class deadline_action : std::uint8_t {
  none,
  cancel_query,   // query_timeout passed: cancel it and wait cancel_grace more
  idle_timeout,   // end the session (25P03)
  query_timeout,  // the cancel did not stop the server in time: end the session
  cut_frame,      // close the server that holds half a frame
};

struct deadline_check {
  deadline_action action = deadline_action::none;
  std::optional<session_clock::time_point> wake;  // when to look again (none, cancel_query)
};

class session_timeline {
 public:
  explicit session_timeline(session_clock::time_point connected) : connected_(connected) {}

  // A request unit's first frame (Query, Sync or FunctionCall with nothing outstanding).
  void request_started(session_clock::time_point now) { request_started_ = now; }

  struct request_end {
    session_clock::duration query{};                       // this request
    std::optional<session_clock::duration> transaction;  // set when it ended a transaction
  };
  // ReadyForQuery with `status` ('I', 'T' or 'E') ended the request.
  request_end request_ended(char status, session_clock::time_point now);

  deadline_check check(session_clock::time_point now, const relay_limits& limits, const relay_facts& facts) const;
  // Whether any deadline runs at all: when none does, check() answers nothing at any time, so
  // the relay need not read the clock.
  static bool watching(const relay_limits& limits, const relay_facts& facts) {
    return (limits.idle_in_transaction.count() > 0 && facts.in_transaction && facts.awaiting_client) ||
           (limits.query.count() > 0 && facts.request_outstanding) || facts.cut_since.has_value();
  }

  bool in_transaction() const { return in_transaction_; }
  std::uint64_t transactions() const { return transactions_; }
  session_clock::time_point connected() const { return connected_; }

 private:
  session_clock::time_point connected_;
  session_clock::time_point request_started_{};
  session_clock::time_point idle_since_{};  // the last ReadyForQuery that left a transaction open
  session_clock::time_point xact_started_{};
  bool in_transaction_ = false;
  std::uint64_t transactions_ = 0;
};

}  // namespace pgrelay::core
