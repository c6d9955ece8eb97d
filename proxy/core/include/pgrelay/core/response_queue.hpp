// Matches the server's responses to the requests sent, in order, so pgrelay can drop the answers
// to requests it injected (a Parse before a Bind, a Close for an evicted statement) and answer
// requests it did not send (a Parse the server already has, a Close of a shared statement).
#pragma once

#include <cstdint>
#include <deque>
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
  synthetic_parse_complete,  // client's Parse already prepared on this server: answer it
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
  // Synthesized answers now due with no server frame to wait for (appended to `out`).
  void drain_ready(std::string& out);

  bool empty() const { return queue_.empty(); }
  // A synthesized answer is at the head: it is due now, no server frame will come first.
  bool synthetic_due() const {
    return !queue_.empty() && (queue_.front().kind == request_kind::synthetic_parse_complete ||
                               queue_.front().kind == request_kind::synthetic_close_complete);
  }
  std::size_t size() const { return queue_.size(); }
  void clear() { queue_.clear(); }

 private:
  struct item {
    request_kind kind;
    statement_id id;
    bool described = false;  // describe_statement: ParameterDescription seen
  };
  bool completes(item& head, char tag);
  void skip_to_sync(verdict& v);

  std::deque<item> queue_;
};

}  // namespace pgrelay::core
