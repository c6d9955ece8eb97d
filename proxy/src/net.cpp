#include "net.hpp"

namespace pgrelay::proxy {

template awaitable<std::optional<bool>> with_timeout<bool>(awaitable<bool>, millis);

awaitable<void> pause_after_accept_error() {
  asio::steady_timer t(co_await asio::this_coro::executor, millis(50));
  co_await t.async_wait(use_tuple);
}

}  // namespace pgrelay::proxy
