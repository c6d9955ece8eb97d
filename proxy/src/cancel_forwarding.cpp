// Forwarding a client's CancelRequest to the server running its request, and keeping that
// server from every other client until the postmaster has taken the cancel.
#include <spdlog/spdlog.h>

#include "client_session.hpp"
#include "pgrelay/core/cancel_guard.hpp"

namespace pgrelay::proxy {

void client_session::forward_cancel() {
  if (!server_ || !core::should_forward_cancel(server_->tracker())) {
    spdlog::info("client {}: cancel request for a client with nothing running on a server; ignored", peer_);
    return;
  }
  // The cancel goes the way the server's connection went: over TLS when that was encrypted.
  auto target = std::make_shared<server_target>();
  target->address = server_->address();
  if (server_->stream().encrypted()) target->tls = server_->tls();
  auto pid = server_->backend_pid();
  auto key = server_->backend_key();
  // Until it lands, the pool lends this server to nobody else (pool::release).
  auto watch = server_->cancels();
  watch->guard.on_sent();
  asio::co_spawn(
      socket_.get_executor(),
      [target, pid, key, watch, ex = socket_.get_executor()]() -> awaitable<void> {
        server_connection conn(ex);
        auto sent = co_await with_timeout<core::cancel_outcome>(conn.send_cancel(*target, pid, key), millis(5000));
        auto outcome = sent.value_or(core::cancel_outcome::lost);
        if (outcome != core::cancel_outcome::delivered) {
          spdlog::warn("could not forward cancel request to {}", target->address.to_string());
        }
        conn.mark_broken();  // no Terminate on a cancel connection
        conn.close();
        watch->guard.on_finished(outcome);
        if (watch->on_settled) watch->on_settled();
      },
      asio::detached);
}

}  // namespace pgrelay::proxy
