#include "parked_sockets.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <system_error>

#include <spdlog/spdlog.h>

#include "client_session.hpp"

namespace pgrelay::proxy {

namespace {

int open_epoll() {
  const int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1 for parked clients");
  return fd;
}

}  // namespace

parked_sockets::parked_sockets(asio::io_context& io) : epoll_fd_(open_epoll()), ready_(io.get_executor(), epoll_fd_) {}

// ready_ closes epoll_fd_; a socket still in the set is its session's to close.
parked_sockets::~parked_sockets() = default;

bool parked_sockets::watch(int fd, client_session* owner, bool known) {
  // Level-triggered and one-shot: bytes that came before the watch fire at once, and a socket
  // fires once, so a wake never races a second report of the same socket.
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
  ev.data.ptr = owner;
  int rc = ::epoll_ctl(epoll_fd_, known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
  if (rc != 0 && known && errno == ENOENT) rc = ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  if (rc != 0) {
    spdlog::warn("parking a client outside the event loop failed: {}", std::strerror(errno));
    return false;
  }
  ++watched_;
  arm();
  return true;
}

void parked_sockets::unwatch(int fd, bool forget) {
  if (forget) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  --watched_;
  // An empty set keeps no wait pending, or the worker's loop would never run out of work.
  if (watched_ == 0 && armed_) {
    error_code ignored;
    ready_.cancel(ignored);
  }
}

void parked_sockets::arm() {
  if (armed_) return;
  armed_ = true;
  ready_.async_wait(asio::posix::descriptor_base::wait_read, [this](error_code ec) {
    armed_ = false;
    if (ec != asio::error::operation_aborted) on_ready();
    if (watched_ > 0) arm();
  });
}

void parked_sockets::on_ready() {
  constexpr int batch = 64;
  std::array<epoll_event, batch> events;
  const int n = ::epoll_wait(epoll_fd_, events.data(), batch, 0);
  // Every owner is held first: a woken session runs at once and must not find another owner
  // of this batch gone. More than a batch ready: the next wait reports the rest at once.
  const auto ready = static_cast<std::size_t>(n > 0 ? n : 0);
  std::array<std::shared_ptr<client_session>, batch> owners;
  for (std::size_t i = 0; i < ready; ++i) owners[i] = static_cast<client_session*>(events[i].data.ptr)->shared_from_this();
  for (std::size_t i = 0; i < ready; ++i) owners[i]->wake_from_parked_set();
}

}  // namespace pgrelay::proxy
