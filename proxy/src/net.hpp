// Asio vocabulary shared by the I/O code: error-returning awaitables and timeouts by racing a
// timer (Asio 1.26 has no cancel_after).
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <chrono>
#include <optional>

namespace pgrelay::proxy {

namespace asio = boost::asio;
using boost::system::error_code;
using asio::awaitable;
using tcp = asio::ip::tcp;
using unix_stream = asio::local::stream_protocol;
using clock = std::chrono::steady_clock;
using millis = std::chrono::milliseconds;

inline constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Runs `op` with a deadline; nullopt when the deadline passed first (op is then cancelled).
// A zero duration means no deadline. `op` must report failures as values, not exceptions.
template <class T>
awaitable<std::optional<T>> with_timeout(awaitable<T> op, millis limit) {
  using namespace asio::experimental::awaitable_operators;
  if (limit.count() <= 0) co_return co_await std::move(op);
  asio::steady_timer timer(co_await asio::this_coro::executor, limit);
  auto r = co_await (std::move(op) || timer.async_wait(use_tuple));
  if (r.index() == 0) co_return std::move(std::get<0>(r));
  co_return std::nullopt;
}

// After a failed accept (most often: out of file descriptors) the next call would fail at once
// again: an accept loop waits this long before it retries, so it never spins.
inline awaitable<void> pause_after_accept_error() {
  asio::steady_timer t(co_await asio::this_coro::executor, millis(50));
  co_await t.async_wait(use_tuple);
}

}  // namespace pgrelay::proxy
