// CPU-bound work that must not run on a worker's event loop (PBKDF2 for a server's SCRAM
// iteration count): a small shared thread pool, awaited from the worker's coroutine, which
// resumes on its own executor afterwards.
#pragma once

#include <atomic>
#include <cstdint>
#include <utility>

#include "net.hpp"

namespace pgrelay::proxy {

// Two threads: a burst of first logins to distinct roles overlaps, and the workers keep the cores.
asio::thread_pool& blocking_pool();

// PBKDF2 computations pgrelay ran (server logins with a password), for /metrics and tests: with
// pass-through this stays at zero.
std::atomic<std::uint64_t>& pbkdf2_computations();

// Runs `fn()` (which must not throw) on the blocking pool; the awaiting coroutine resumes on its
// own executor with the result. Not a coroutine itself: GCC 12 mishandles a coroutine's by-value
// lambda parameter (it freed the moved-from capture twice).
template <class Fn>
auto run_blocking(Fn fn) {
  using result = decltype(fn());
  return asio::async_initiate<const use_awaitable_t&, void(result)>(
      [](auto handler, Fn f) {
        auto home = asio::get_associated_executor(handler);
        asio::post(blocking_pool(), [f = std::move(f), handler = std::move(handler), home]() mutable {
          result r = f();
          asio::post(home, [handler = std::move(handler), r = std::move(r)]() mutable { std::move(handler)(std::move(r)); });
        });
      },
      use_awaitable, std::move(fn));
}

}  // namespace pgrelay::proxy
