// The admin console, run on a client connection once an admin user logged in to the virtual
// database `pgrelay` (or `pgbouncer`): simple Query messages in, SHOW views and command results out.
#pragma once

#include "byte_buffer.hpp"
#include "byte_stream.hpp"
#include "explain.hpp"
#include "net.hpp"
#include "stats.hpp"
#include "worker.hpp"

namespace pgrelay::proxy {

// Serves `who` until Terminate, EOF or SHUTDOWN; `in` holds what the client sent after login.
awaitable<void> run_admin_console(worker& w, byte_stream& stream, byte_buffer& in, database_stats& stats,
                                  const explain_client& who);

}  // namespace pgrelay::proxy
