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

// Runs `fn()` on the blocking pool; the awaiting coroutine continues on its own executor.
template <class Fn>
auto run_blocking(Fn fn) -> awaitable<decltype(fn())> {
  using result = decltype(fn());
  co_return co_await asio::co_spawn(
      blocking_pool(), [fn = std::move(fn)]() mutable -> awaitable<result> { co_return fn(); }, asio::use_awaitable);
}

}  // namespace pgrelay::proxy
