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
using tcp = asio::ip::tcp;
using unix_stream = asio::local::stream_protocol;
using clock = std::chrono::steady_clock;
using millis = std::chrono::milliseconds;

// The executor of every socket, timer and coroutine: an io_context's, by its concrete type.
// Asio's default, the type-erased any_io_executor, costs each operation and each coroutine
// resumption a virtual work-tracking step, and each pending operation a copy of the erased
// executor (a parked client holds one such wait).
using io_executor = asio::io_context::executor_type;
template <class T = void>
using awaitable = asio::awaitable<T, io_executor>;
using use_awaitable_t = asio::use_awaitable_t<io_executor>;
inline constexpr use_awaitable_t use_awaitable{};
using tcp_socket = asio::basic_stream_socket<tcp, io_executor>;
using tcp_acceptor = asio::basic_socket_acceptor<tcp, io_executor>;
using unix_acceptor = asio::basic_socket_acceptor<unix_stream, io_executor>;
using io_timer = asio::basic_waitable_timer<clock, asio::wait_traits<clock>, io_executor>;

inline constexpr auto use_tuple = asio::as_tuple(use_awaitable);

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

// The instantiation more than one file uses, made once (net.cpp): a coroutine's frame type is
// defined per translation unit, and link-time optimization finds the copies' fields differ.
extern template awaitable<std::optional<bool>> with_timeout<bool>(awaitable<bool>, millis);

// After a failed accept (most often: out of file descriptors) the next call would fail at once
// again: an accept loop waits this long before it retries, so it never spins.
awaitable<void> pause_after_accept_error();

}  // namespace pgrelay::proxy
