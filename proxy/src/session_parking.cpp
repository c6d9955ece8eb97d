// Parking: what an idle client costs. A session waiting for its next request unit holds three
// coroutine frames, a read buffer and the read in flight, some 3 KiB; parked, it holds its
// session object without its I/O part (client_io) and a readiness wait. It parks at once when
// it is about to start a read with nothing pending (after login, after a unit answered without a
// server), where the wait costs the same system call as the read's first attempt; and when the
// worker's sweep finds it idle through a whole interval, whose cancelled read costs no system
// call. Beyond `compact_parking_after` parked clients per process, a parked client's socket
// leaves Asio's reactor for the worker's parked_sockets: memory for system calls, where idle
// clients are many.
#include <unistd.h>

#include "client_session.hpp"
#include "parked_sockets.hpp"
#include "worker.hpp"

namespace pgrelay::proxy {

namespace {

asio::generic::stream_protocol protocol_of(unsigned char family) {
  return {family, family == AF_UNIX ? 0 : IPPROTO_TCP};
}

}  // namespace

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
  const auto parked_now = worker_.shared().parked_sessions.fetch_add(1, std::memory_order_relaxed) + 1;
  if (parked_now > worker_.current_config()->compact_parking_after && park_compactly()) return;
  wait_in_reactor();
}

void client_session::wait_in_reactor() {
  // Readable, closed by the client, or cancelled by terminate's close: serve_units tells which.
  socket_.async_wait(asio::socket_base::wait_read, [self = shared_from_this()](error_code) { self->unpark(); });
}

bool client_session::park_compactly() {
  error_code ec;
  const int fd = socket_.release(ec);
  if (ec) return false;
  if (!worker_.parked().watch(fd, this, in_parked_set_)) {
    socket_.assign(protocol_of(family_), fd, ec);
    if (ec) ::close(fd);  // the wait in Asio then fails at once and the session ends
    return false;
  }
  in_parked_set_ = true;
  parked_fd_ = fd;
  parked_self_ = shared_from_this();
  worker_.shared().parked_compactly.fetch_add(1, std::memory_order_relaxed);
  return true;
}

int client_session::leave_parked_set(bool forget) {
  const int fd = std::exchange(parked_fd_, -1);
  worker_.parked().unwatch(fd, forget);
  worker_.shared().parked_compactly.fetch_sub(1, std::memory_order_relaxed);
  if (forget) in_parked_set_ = false;
  return fd;
}

void client_session::take_back_socket(bool forget) {
  const int fd = leave_parked_set(forget);
  error_code ec;
  socket_.assign(protocol_of(family_), fd, ec);
  if (ec) {
    ::close(fd);  // the next operation fails at once and the session ends
    return;
  }
  // As at the start: Asio then needs no ioctl of its own, and write_now none.
  socket_.non_blocking(true, ec);
}

void client_session::wake_from_parked_set() {
  if (parked_fd_ < 0) return;  // taken back meanwhile (terminate)
  const auto self = std::move(parked_self_);
  take_back_socket(false);
  unpark();
}

void client_session::surface() {
  const auto self = std::move(parked_self_);
  take_back_socket(true);
  wait_in_reactor();
}

void client_session::drop_compact_park() {
  if (parked_fd_ < 0) return;
  const auto self = std::move(parked_self_);
  ::close(leave_parked_set(true));
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
