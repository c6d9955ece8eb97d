// Parked clients' sockets held outside Asio's reactor (compact parking, session_parking.cpp).
// A socket Asio knows costs its reactor state (168 bytes, which Asio keeps pooled while any
// socket is open) and, to learn that the client sent something, a pending wait (about 100
// bytes more). Here a parked socket costs an entry in one epoll set per worker, which lives in
// the kernel, and Asio waits once on that set's descriptor for all of them. The price is system
// calls: taking a socket from Asio and back costs five more than a wait in Asio (measured per
// login: three epoll_ctl, the ioctl that makes the socket non-blocking for Asio again, and an
// epoll_wait).
#pragma once

#include <cstddef>

#include "net.hpp"

namespace pgrelay::proxy {

class client_session;

class parked_sockets {
 public:
  explicit parked_sockets(asio::io_context& io);
  ~parked_sockets();
  parked_sockets(const parked_sockets&) = delete;
  parked_sockets& operator=(const parked_sockets&) = delete;

  // Watches `fd` (no longer Asio's) until the client sends, closes or fails, then calls
  // owner->wake_from_parked_set() once, on the worker's loop; the owner must stay alive until
  // then or until unwatch. `known`: the set still holds `fd`, disabled since it last fired. False
  // when the kernel refused: the caller keeps the socket in Asio.
  bool watch(int fd, client_session* owner, bool known);
  // `fd` left the set's care: it fired (its entry stays, disabled, for the next watch), or, with
  // `forget`, it is taken back without firing and its entry is removed.
  void unwatch(int fd, bool forget);
  std::size_t size() const { return watched_; }

 private:
  void arm();
  void on_ready();

  int epoll_fd_ = -1;
  asio::posix::basic_stream_descriptor<io_executor> ready_;  // epoll_fd_, as Asio waits on it
  std::size_t watched_ = 0;
  bool armed_ = false;
};

}  // namespace pgrelay::proxy
