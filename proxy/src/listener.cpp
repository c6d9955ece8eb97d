// Acceptor loops. A session's unexpected exception is logged and ends only that session.
#include "listener.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "client_session.hpp"
#include "session_slab.hpp"
#include "worker.hpp"

namespace pgrelay::proxy {

namespace {

void spawn_session(worker& w, stream_socket socket, std::string peer, int family) {
  std::allocate_shared<client_session>(slab_allocator<client_session>(), w, std::move(socket), std::move(peer), family)
      ->start();
}

template <class Acceptor>
struct acceptor_holder {
  explicit acceptor_holder(Acceptor a) : acceptor(std::move(a)) {}
  ~acceptor_holder() {
    error_code ignored;
    acceptor.close(ignored);
  }
  Acceptor acceptor;
};

awaitable<void> accept_tcp(worker& w, std::shared_ptr<acceptor_holder<tcp_acceptor>> holder) {
  auto& acc = holder->acceptor;
  while (acc.is_open()) {
    auto [ec, s] = co_await acc.async_accept(use_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acc.is_open()) co_return;
      spdlog::warn("accept failed: {}", ec.message());
      co_await pause_after_accept_error();
      continue;
    }
    error_code ignored;
    s.set_option(tcp::no_delay(true), ignored);
    auto ep = s.remote_endpoint(ignored);
    const int family = ep.address().is_v6() ? AF_INET6 : AF_INET;
    spawn_session(w, stream_socket(std::move(s)), ep.address().to_string() + ":" + std::to_string(ep.port()), family);
  }
}

awaitable<void> accept_unix(worker& w, std::shared_ptr<acceptor_holder<unix_acceptor>> holder) {
  auto& acc = holder->acceptor;
  while (acc.is_open()) {
    auto [ec, s] = co_await acc.async_accept(use_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acc.is_open()) co_return;
      spdlog::warn("accept failed: {}", ec.message());
      co_await pause_after_accept_error();
      continue;
    }
    spawn_session(w, stream_socket(std::move(s)), "unix", AF_UNIX);
  }
}

// Closing the acceptor ends its accept loop; the loop itself keeps the acceptor alive.
template <class Holder>
std::shared_ptr<void> closer_for(std::shared_ptr<Holder> holder) {
  return std::shared_ptr<void>(nullptr, [holder](void*) {
    error_code ignored;
    holder->acceptor.close(ignored);
  });
}

}  // namespace

std::shared_ptr<void> start_listener(worker& w, const conf::endpoint& ep) {
  auto on_done = [](std::exception_ptr) {};
  if (ep.is_unix()) {
    ::unlink(ep.unix_path.c_str());
    unix_acceptor a(w.io());
    a.open();
    a.bind(unix_stream::endpoint(ep.unix_path));
    ::chmod(ep.unix_path.c_str(), 0777);
    a.listen(asio::socket_base::max_listen_connections);
    auto holder = std::make_shared<acceptor_holder<unix_acceptor>>(std::move(a));
    asio::co_spawn(w.io(), accept_unix(w, holder), on_done);
    spdlog::info("worker {} listening on {}", w.index(), ep.to_string());
    return closer_for(holder);
  }
  auto address = asio::ip::make_address(ep.host);
  tcp::endpoint tep(address, ep.port);
  tcp_acceptor a(w.io());
  a.open(tep.protocol());
  a.set_option(asio::socket_base::reuse_address(true));
  int one = 1;
  ::setsockopt(a.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  a.bind(tep);
  a.listen(asio::socket_base::max_listen_connections);
  auto holder = std::make_shared<acceptor_holder<tcp_acceptor>>(std::move(a));
  asio::co_spawn(w.io(), accept_tcp(w, holder), on_done);
  spdlog::info("worker {} listening on {}", w.index(), ep.to_string());
  return closer_for(holder);
}

}  // namespace pgrelay::proxy
