// Matches the server's responses to the requests sent, in order, so pgrelay can drop the answers
// to requests it injected (a Parse before a Bind, a Close for an evicted statement) and answer
// requests it did not send (a Parse the server already has, a Close of a shared statement).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pgrelay/core/prepared_statements.hpp"

namespace pgrelay::core {

enum class request_kind : std::uint8_t {
  parse,
  bind,
  describe_statement,
  describe_portal,
  execute,
  close,
  sync,
  query,          // simple Query: everything up to its ReadyForQuery
  function_call,  // likewise
  injected_parse,            // pgrelay's own Parse: its ParseComplete is not the client's
  injected_bind,             // pgrelay's own Bind: its BindComplete is not the client's
  injected_close,            // pgrelay's own Close: its CloseComplete is not the client's
  synthetic_close_complete,  // client's Close of a shared statement: answer it
};

class response_queue {
 public:
  void push(request_kind k, statement_id id = 0) { queue_.push_back({k, id}); }

  struct verdict {
    bool forward = true;                // pass this server frame to the client
    std::string before;                 // synthesized messages to send before it
    std::vector<statement_id> unprepared;  // Parses under shared names that did not happen
    statement_id errored = 0;              // the shared statement whose Bind/Describe failed
    statement_id parsed = 0;               // a shared statement a server just accepted
  };
  // Call at the start of every server frame, with its tag.
  verdict on_server_frame(char tag);
  // True when on_server_frame(tag) would return the default verdict and change nothing: an
  // asynchronous frame, or one that neither ends nor fails the request at the head (a simple
  // Query's description and rows, the usual case). The relay then skips the call.
  // Inline: it is asked on every server frame of a client with prepared statements.
  bool passes(char tag) const {
    if (is_async(tag) || queue_.empty()) return true;
    const item& head = queue_.front();
    if (is_synthetic(head.kind)) return false;  // due before this frame
    if (tag == 'E') return head.kind == request_kind::query || head.kind == request_kind::function_call;
    return tag != 'Z' && !completes(head.kind, tag);
  }
  // Synthesized answers now due with no server frame to wait for (appended to `out`).
  void drain_ready(std::string& out);

  bool empty() const { return queue_.empty(); }
  // A synthesized answer is at the head: it is due now, no server frame will come first.
  bool synthetic_due() const {
    return !queue_.empty() && is_synthetic(queue_.front().kind);
  }
  std::size_t size() const { return queue_.size(); }
  void clear() { queue_.clear(); }

 private:
  struct item {
    request_kind kind;
    statement_id id;
  };
  static bool is_async(char tag) { return tag == 'N' || tag == 'A' || tag == 'S'; }
  static bool is_synthetic(request_kind k) { return k == request_kind::synthetic_close_complete; }
  // Whether `tag` is the frame that ends a request of this kind. A simple Query (and a
  // FunctionCall) goes on through its errors to its own 'Z'.
  static bool completes(request_kind kind, char tag) {
    switch (kind) {
      case request_kind::parse:
      case request_kind::injected_parse: return tag == '1';
      case request_kind::bind:
      case request_kind::injected_bind: return tag == '2';
      case request_kind::describe_statement:  // its ParameterDescription ('t') comes first
      case request_kind::describe_portal: return tag == 'T' || tag == 'n';
      case request_kind::execute: return tag == 'C' || tag == 'I' || tag == 's';
      case request_kind::close:
      case request_kind::injected_close: return tag == '3';
      case request_kind::sync:
      case request_kind::query:
      case request_kind::function_call: return tag == 'Z';
      default: return false;
    }
  }
  void skip_to_sync(verdict& v);

  // A FIFO in one vector, which empties at nearly every Sync and is then reused from its start:
  // no block allocated and freed as requests come and go, as a deque does. A pipeline that never
  // lets it empty has its answered head cut off once that is half of it.
  class fifo {
   public:
    bool empty() const { return head_ == items_.size(); }
    std::size_t size() const { return items_.size() - head_; }
    const item& front() const { return items_[head_]; }
    void push_back(item i) {
      if (head_ >= compact_from && head_ * 2 >= items_.size()) {
        items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
        head_ = 0;
      }
      items_.push_back(i);
    }
    void pop_front() {
      if (++head_ == items_.size()) clear();
    }
    void clear() {
      items_.clear();
      head_ = 0;
    }

   private:
    static constexpr std::size_t compact_from = 64;
    std::vector<item> items_;
    std::size_t head_ = 0;
  };
  fifo queue_;
};

}  // namespace pgrelay::core
