// What the relay coroutine keeps between wake-ups, shared by its two directions (relay.cpp for
// the loop and the server side, client_scan.cpp for the client side).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "client_session.hpp"
#include "worker.hpp"

namespace pgrelay::proxy {

// Byte ranges to write in one go: runs of the read buffer and pgrelay-made messages. Side
// ranges are kept as offsets because the side buffer may still grow while the plan is built.
class write_plan {
 public:
  void clear() { spans_.clear(); }
  void raw(const char* p, std::size_t n) {
    if (n > 0) spans_.push_back({p, 0, n});
  }
  // Bytes [offset, offset+n) of the side buffer.
  void side(std::size_t offset, std::size_t n) {
    if (n > 0) spans_.push_back({nullptr, offset, n});
  }
  bool empty() const { return spans_.empty(); }
  const std::vector<asio::const_buffer>& buffers(const std::string& side, std::vector<asio::const_buffer>& out) {
    out.clear();
    for (const auto& s : spans_) out.emplace_back(s.raw ? s.raw : side.data() + s.offset, s.size);
    return out;
  }

 private:
  struct span {
    const char* raw;     // into the read buffer, or nullptr for a side range
    std::size_t offset;  // into the side buffer
    std::size_t size;
  };
  std::vector<span> spans_;
};

// What one relay (begin_relay to its end) keeps between wake-ups.
struct client_session::relay_state {
  std::optional<core::statement_rewriter> rewriter;
  write_plan to_server;
  write_plan to_client;
  std::string to_server_side;  // rewritten client messages for the current write
  std::string to_client_side;  // synthesized server messages for the current write
  std::vector<asio::const_buffer> gather_server;
  std::vector<asio::const_buffer> gather_client;
  io_slot server_read;
  io_slot server_write;
  // idle_in_transaction_timeout, query_timeout, a cut frame's grace: one wait at a time.
  std::optional<io_timer> timer;
  clock::time_point timer_at{};
  bool timer_armed = false;
  std::size_t client_pos = 0;  // bytes of the read buffer the server write in flight carries
  std::size_t server_pos = 0;  // bytes of the server buffer the client write in flight carries
  bool cancel_sent = false;    // query_timeout: a CancelRequest went out
  std::optional<clock::time_point> cut_since;  // held only by a cut client frame since then

  // Ready for the next relay, which may be another client's: no byte, completion or reference
  // of this one stays, only the buffers' capacity.
  void reset() {
    rewriter.reset();
    to_server.clear();
    to_client.clear();
    to_server_side.clear();
    to_client_side.clear();
    gather_server.clear();
    gather_client.clear();
    server_read = {};
    server_write = {};
    client_pos = server_pos = 0;
    cancel_sent = false;
    cut_since.reset();
  }
};

// Only as many relays run at once on a worker as it has servers lent, so a few states, warm in
// the cache, serve every client in turn. One kept per client instead spreads each transaction's
// bookkeeping over memory no cache holds once clients number in the hundreds.
struct worker::relay_spares {
  // More than this many relays rarely run at once; a burst's extra states are freed.
  static constexpr std::size_t kept = 64;
  std::vector<std::unique_ptr<client_session::relay_state, client_session::relay_state_deleter>> free;
};

}  // namespace pgrelay::proxy
