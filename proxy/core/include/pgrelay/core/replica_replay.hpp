// An autocommit read sent to a replica is kept until the first byte of its answer reaches the
// client, so that it can run on the primary instead when the replica dies, refuses it (a write
// through a function not known as writing) or cancels it (a recovery conflict). Once any of the
// answer reached the client, or the server said FATAL, a replay would show the client two
// answers: then the failure reaches the client as it is. Pure: the relay reports what it did.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace pgrelay::core {

class replica_replay {
 public:
  // A read was routed to a replica: `unit` is the whole buffered request, `ends_unit` says it
  // ends with Query or Sync (a ReadyForQuery will close its answer, which may be held till then).
  // Returns false (and keeps nothing) for a unit over max_kept.
  bool keep(std::string_view unit, bool ends_unit);
  void forget() { bytes_.clear(); }
  // forget(), and the copy's storage is freed (it keeps the capacity of the biggest unit kept
  // so far, up to max_kept): an idle session keeps none.
  void release() { std::string().swap(bytes_); }
  // Heap bytes the copy's storage holds (0 when it fits in the string itself).
  std::size_t held_bytes() const { return bytes_.capacity() > std::string().capacity() ? bytes_.capacity() : 0; }
  bool kept() const { return !bytes_.empty(); }

  // Events of the server link, counted from the server's attach.
  void attached() {
    forwarded_ = 0;
    relayed_ = false;
    fatal_ = false;
  }
  void forwarded(std::size_t n) { forwarded_ += n; }
  void relayed() { relayed_ = true; }
  void server_said_fatal() { fatal_ = true; }
  bool fatal_seen() const { return fatal_; }

  // After the replica's connection broke: replay on the primary?
  bool may_replay_after_failure(bool on_replica, bool server_broken) const {
    return kept() && on_replica && server_broken && untouched();
  }
  // May the replica's answer be judged as a refusal (and replayed)? Only while none of it was
  // relayed and the kept copy holds all the replica was sent.
  bool may_judge_refusal(bool on_replica) const { return kept() && ends_unit_ && on_replica && untouched(); }
  // Hold the replica's answer back from the client until its ReadyForQuery? A replica may die
  // after sending most of an answer (an immediate shutdown flushes the rows with its farewell
  // notice); held back whole, the answer reached the client in no part and the primary can
  // still give it. `answer`: what the server sent so far; `mid_frame`: the relay is inside a
  // server message already partly passed on.
  bool hold_answer(std::string_view answer, bool mid_frame) const;

  // What the failed replica received: the start of the kept copy (the rest is still buffered).
  std::string_view sent() const { return std::string_view(bytes_).substr(0, forwarded_); }
  std::string_view bytes() const { return bytes_; }
  // For the log line when a failure cannot be replayed.
  bool relayed_any() const { return relayed_; }
  std::size_t forwarded_bytes() const { return forwarded_; }

  static constexpr std::size_t max_kept = 64u << 10;         // a bigger unit is not kept
  static constexpr std::size_t max_held_answer = 64u << 10;  // a bigger answer is not held

 private:
  bool untouched() const { return !relayed_ && !fatal_ && forwarded_ <= bytes_.size(); }

  std::string bytes_;
  bool ends_unit_ = false;
  std::size_t forwarded_ = 0;
  bool relayed_ = false;
  bool fatal_ = false;
};

}  // namespace pgrelay::core
