#include "pgrelay/core/session_timeline.hpp"

namespace pgrelay::core {

session_timeline::request_end session_timeline::request_ended(char status, session_clock::time_point now) {
  request_end end;
  end.query = now - request_started_;
  if (status != 'I') {
    idle_since_ = now;
    if (!in_transaction_) xact_started_ = request_started_;
    in_transaction_ = true;
    return end;
  }
  ++transactions_;
  end.transaction = now - (in_transaction_ ? xact_started_ : request_started_);
  in_transaction_ = false;
  return end;
}

deadline_check session_timeline::check(session_clock::time_point now, const relay_limits& limits,
                                       const relay_facts& facts) const {
  deadline_check out;
  auto wake_at = [&out](session_clock::time_point t) {
    if (!out.wake || t < *out.wake) out.wake = t;
  };
  if (limits.idle_in_transaction.count() > 0 && facts.in_transaction && facts.awaiting_client) {
    // Counts from the ReadyForQuery that left the transaction idle.
    auto deadline = idle_since_ + limits.idle_in_transaction;
    if (now >= deadline) return {deadline_action::idle_timeout, std::nullopt};
    wake_at(deadline);
  }
  if (limits.query.count() > 0 && facts.request_outstanding) {
    auto deadline = request_started_ + limits.query;
    if (facts.cancel_sent) deadline += limits.cancel_grace;
    if (now >= deadline) {
      if (facts.cancel_sent) return {deadline_action::query_timeout, std::nullopt};
      out.action = deadline_action::cancel_query;
      deadline += limits.cancel_grace;
    }
    wake_at(deadline);
  }
  if (facts.cut_since) {
    auto deadline = *facts.cut_since + limits.cut_frame_grace;
    if (now >= deadline && !facts.server_write_busy) return {deadline_action::cut_frame, std::nullopt};
    wake_at(deadline);
  }
  return out;
}

}  // namespace pgrelay::core
