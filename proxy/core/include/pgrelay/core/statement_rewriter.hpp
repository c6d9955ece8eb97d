// Rewrites a client's extended-protocol messages for the server it borrowed in transaction
// mode: client statement names become pgrelay's shared names, statements the server lacks are
// prepared first, and the response queue learns what answers to expect, drop or synthesize.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "pgrelay/core/prepared_statements.hpp"
#include "pgrelay/core/response_queue.hpp"

namespace pgrelay::core {

// What a server knows about statements, carried with the server connection across clients.
struct server_statement_state {
  server_statements prepared;
  // The registry generation each statement was prepared at; an older one is closed and redone.
  std::unordered_map<statement_id, std::uint32_t> generation;
  // The registry's parse clock when each statement was prepared here.
  std::unordered_map<statement_id, std::uint64_t> prepared_at;
  response_queue responses;

  void forget(statement_id id) {
    prepared.remove(id);
    generation.erase(id);
    prepared_at.erase(id);
  }
  // DISCARD ALL / DEALLOCATE ALL: the server has none of them any more.
  void forget_all() {
    prepared.clear();
    generation.clear();
    prepared_at.clear();
  }
  void clear() {
    forget_all();
    responses.clear();
  }
};

class statement_rewriter {
 public:
  enum class action {
    forward_raw,  // send the client's bytes unchanged
    replaced,     // send `out` instead
    swallowed,    // send nothing; the answer is synthesized
  };

  statement_rewriter(client_statements& client, const statement_registry& registry, server_statement_state& server)
      : client_(client), registry_(registry), server_(server) {}

  // A whole client frame (tag, body). Appends replacement bytes to `out` when it returns replaced.
  action on_frame(char tag, std::string_view body, std::string& out);
  // The head of a Bind too big to hold (see oversize_statement.hpp): appends Parse messages the
  // server needs and a Bind header with the server's statement name, whose length covers the
  // `rest_size` parameter bytes the caller streams after it. False: the client's own head goes
  // out unchanged (nothing appended).
  bool on_bind_head(std::string_view portal, std::string_view statement, std::size_t rest_size, std::string& out);
  // Frames that stream through without being buffered whole: only their answers are recorded.
  void on_streamed_frame(char tag);

  // Makes sure the server has `id` prepared (for SQL that names it, e.g. DEALLOCATE).
  void prepare(statement_id id, std::string& out) { ensure_prepared(id, out, 0); }

  // The client's named statement the last Bind executes (0: none, or unnamed); cleared by reading.
  statement_id take_bound() { return std::exchange(bound_, 0); }

  // Tags whose bodies on_frame needs whole.
  static bool wants_whole(char tag) { return tag == 'P' || tag == 'B' || tag == 'D' || tag == 'C'; }

 private:
  action on_parse(std::string_view body, std::string& out);
  action on_bind(std::string_view body, std::string& out);
  action on_describe(std::string_view body, std::string& out);
  action on_close(std::string_view body);
  // Prepared here, at the registry's current generation, and no earlier than `parsed_at`.
  bool is_current(statement_id id, std::uint64_t parsed_at) const;
  // Appends Close/Parse messages so the server has `id` prepared under its shared name, in a
  // copy no older than the client's Parse at `parsed_at`.
  // `clients_parse`: the Parse answers the client's own Parse, so its ParseComplete is forwarded.
  void ensure_prepared(statement_id id, std::string& out, std::uint64_t parsed_at, bool clients_parse = false);

  client_statements& client_;
  const statement_registry& registry_;
  server_statement_state& server_;
  statement_id bound_ = 0;
};

}  // namespace pgrelay::core
