// Parking: what an idle client costs. A session waiting for its next request unit holds three
// coroutine frames, a read buffer and the read in flight, some 3 KiB; parked, it holds its
// session object without its I/O part (client_io) and a readiness wait. It parks at once when
// it is about to start a read with nothing pending (after login, after a unit answered without a
// server), where the wait costs the same system call as the read's first attempt; and when the
// worker's sweep finds it idle through a whole interval, whose cancelled read costs no system
// call.
#include "client_session.hpp"
#include "worker.hpp"

namespace pgrelay::proxy {

bool client_session::may_park() const {
  // TLS: the stream may hold decrypted bytes the socket's readiness would not announce.
  const auto& io = *client_io_;
  return !server_ && !woken_ && !client_eof_ && !io.client_read.busy && !io.client_write.busy && io.in.empty() &&
         !io.in.read_pending() && io.out.empty() && io.pending_notice.empty() && !io.waiter &&
         !core_.running().text.viewing() && !client_stream_.encrypted() && !relay_state_ &&
         !worker_.shared().shutting_down;
}

void client_session::offer_park() {
  // A write in flight would be cancelled with the read (none is, between units: the relay
  // hands its server back only once its writes are done).
  if (parked_ || !idle_waiting_ || park_requested_ || server_ || client_stream_.encrypted()) return;
  if (!client_io_->client_read.busy || client_io_->client_write.busy || !client_io_->in.empty()) {
    return;
  }
  if (!park_candidate_) {
    park_candidate_ = true;  // idle now: parks at the next sweep if still idle then
    return;
  }
  // The read completes as cancelled and read_unit_pass parks; bytes that arrive meanwhile
  // stay in the socket, and the readiness wait reports them at once.
  park_requested_ = true;
  error_code ignored;
  socket_.cancel(ignored);
}

void client_session::park() {
  parking_ = false;
  parked_ = true;
  client_io_.reset();
  links_.reset();
  core_.release_request_storage();
  worker_.shared().parked_sessions.fetch_add(1, std::memory_order_relaxed);
  // Readable, closed by the client, or cancelled by terminate's close: serve_units tells which.
  socket_.async_wait(asio::socket_base::wait_read, [self = shared_from_this()](error_code) { self->unpark(); });
}

void client_session::unpark() {
  parked_ = false;
  woken_ = true;
  worker_.shared().parked_sessions.fetch_sub(1, std::memory_order_relaxed);
  client_io_ = std::make_unique<client_io>();
  core_.wake();
  spawn(serve_units());
}

}  // namespace pgrelay::proxy
