// The admin console: a virtual database (`pgrelay`, alias `pgbouncer`) that speaks the simple
// query protocol. This file reads its commands and runs them through a table from command to
// handler; the SHOW views are built in admin_views.cpp.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <iomanip>
#include <sstream>

#include "admin_console.hpp"
#include "admin_views.hpp"
#include "explain.hpp"
#include "introspection.hpp"
#include "routing_inputs.hpp"
#include "pgrelay/core/admin_command.hpp"
#include "pgrelay/protocol/errors.hpp"
#include "pgrelay/protocol/frame.hpp"
#include "pgrelay/protocol/messages.hpp"
#include "pgrelay/protocol/writer.hpp"
#include "pgrelay/router/function_catalog.hpp"
#include "pool.hpp"

namespace pgrelay::proxy {

namespace pr = pgrelay::protocol;

namespace {

// The console's side of the client connection: reads into the session's buffer, writes what the
// console built, counts bytes and errors like any client's.
struct console_link {
  byte_stream& stream;
  byte_buffer& in;
  database_stats& stats;
  std::string out;

  awaitable<bool> read_more() {
    std::size_t room = 0;
    char* at = in.prepare(4096, room);
    auto [ec, n] = co_await stream.read_some(asio::buffer(at, room));
    if (ec) co_return false;
    in.commit(n);
    stats.bytes_received += n;
    co_return true;
  }
  awaitable<bool> flush() {
    auto [ec, n] = co_await stream.write(asio::buffer(out));
    stats.bytes_sent += n;
    out.clear();
    co_return !ec;
  }
  awaitable<void> fail(std::string_view message) {
    pr::build::error_response(out, pr::severity::fatal, pr::sqlstate::protocol_violation, message);
    ++stats.errors_by_class[std::string(pr::sqlstate::protocol_violation.substr(0, 2))];
    (void)co_await flush();
  }
};

}  // namespace

namespace {

// What a command runs with: the process's shared state, the console client's own loop, and the
// configuration as this worker sees it.
struct console_context {
  shared_state& shared;
  io_executor executor;
  const conf::config& config;
  const explain_client& client;
};

awaitable<std::string> run_reload(console_context& c, std::string& out) {
  spdlog::info("admin console: {} asked for RELOAD", c.client.user);
  // Off this worker's loop: loading the file and restarting the health checker may block.
  // (No co_await inside ?: and no temporaries with destructors in a co_await expression:
  // GCC 12 destroys those twice.)
  std::string problems = "reload is not available";
  if (c.shared.control.reload) {
    auto* sh = &c.shared;
    // The control pool's own coroutine type: it runs there, not on a worker's io_context.
    auto reload = [sh]() -> asio::awaitable<std::string, asio::any_io_executor> { co_return sh->control.reload(); };
    problems = co_await asio::co_spawn(c.shared.control.executor, reload, use_awaitable);
  }
  if (!problems.empty()) {
    pr::build::error_response(out, pr::severity::error, "F0000", "the new configuration is invalid; nothing was changed",
                              problems);
    co_return "reload refused";
  }
  pr::build::command_complete(out, "RELOAD");
  co_return "";
}

awaitable<std::string> run_shutdown(console_context& c, std::string& out) {
  spdlog::info("admin console: {} asked for SHUTDOWN", c.client.user);
  pr::build::command_complete(out, "SHUTDOWN");
  if (c.shared.control.shutdown) c.shared.control.shutdown();
  co_return "shutdown";
}

// PAUSE answers once the requests in flight are done (bounded, so the console never hangs).
awaitable<std::string> run_pause(console_context& c, const std::string& db, std::string& out) {
  for (auto* w : c.shared.workers) co_await run_on(*w, [w, &db] { w->pause(db); return 0; });
  asio::steady_timer timer(c.executor);
  const auto deadline = clock::now() + std::chrono::seconds(60);
  for (;;) {
    std::size_t busy = 0;
    for (auto* w : c.shared.workers) busy += co_await run_on(*w, [w, &db] { return w->sessions_with_server(db); });
    if (busy == 0) break;
    if (clock::now() > deadline) {
      pr::build::error_response(out, pr::severity::error, pr::sqlstate::query_canceled,
                                std::to_string(busy) + " client(s) still hold a server after 60s; the pause stays on",
                                {}, "RESUME to undo, or KILL the database");
      co_return "pause incomplete";
    }
    timer.expires_after(millis(50));
    co_await timer.async_wait(use_tuple);
  }
  pr::build::command_complete(out, "PAUSE");
  co_return "";
}

// PAUSE, RESUME and KILL: for one database (or, PAUSE and RESUME, all) on every worker.
awaitable<std::string> run_database_command(console_context& c, const core::admin_command& cmd, std::string& out) {
  const auto& db = cmd.argument;
  if (!db.empty() && !c.config.databases.contains(db)) {
    pr::build::error_response(out, pr::severity::error, pr::sqlstate::invalid_catalog_name,
                              "no database \"" + db + "\" in the configuration");
    co_return "unknown database " + db;
  }
  if (cmd.verb == core::admin_verb::pause) co_return co_await run_pause(c, db, out);
  if (cmd.verb == core::admin_verb::resume) {
    for (auto* w : c.shared.workers) co_await run_on(*w, [w, &db] { w->resume(db); return 0; });
    pr::build::command_complete(out, "RESUME");
    co_return "";
  }
  for (auto* w : c.shared.workers) co_await run_on(*w, [w, &db] { w->kill(db); return 0; });
  pr::build::command_complete(out, "KILL");
  co_return "killed the clients of " + db;
}

awaitable<std::string> run_show(console_context& c, const core::admin_command& cmd, std::string& out) {
  std::vector<worker_snapshot> all;
  std::set<std::string> paused;
  if (view_reads_workers(cmd.what)) {
    all = co_await snapshot_all(c.shared);
    for (auto* w : c.shared.workers) {
      auto p = co_await run_on(*w, [w] { return w->paused_databases(); });
      paused.insert(p.begin(), p.end());
    }
  }
  build_view(cmd.what, view_input{cmd, c.config, all, c.shared, paused, c.client}).write(out);
  co_return "";
}

awaitable<std::string> run_reload_command(console_context& c, const core::admin_command&, std::string& out) {
  return run_reload(c, out);
}

awaitable<std::string> run_shutdown_command(console_context& c, const core::admin_command&, std::string& out) {
  return run_shutdown(c, out);
}

awaitable<std::string> run_empty(console_context&, const core::admin_command&, std::string& out) {
  pr::build::empty_query_response(out);
  co_return "";
}

awaitable<std::string> run_invalid(console_context&, const core::admin_command& cmd, std::string& out) {
  pr::build::error_response(out, pr::severity::error, pr::sqlstate::syntax_error, cmd.error);
  co_return "rejected: " + cmd.error;
}

// From command to handler. Each appends its answer to `out` and returns a short note for the
// log ("" when there is nothing to say; "shutdown" ends the console).
using console_handler = awaitable<std::string> (*)(console_context&, const core::admin_command&, std::string&);
struct console_route {
  core::admin_verb verb;
  console_handler handler;
};
constexpr std::array console_routes{
    console_route{core::admin_verb::empty, run_empty},
    console_route{core::admin_verb::invalid, run_invalid},
    console_route{core::admin_verb::reload, run_reload_command},
    console_route{core::admin_verb::shutdown, run_shutdown_command},
    console_route{core::admin_verb::pause, run_database_command},
    console_route{core::admin_verb::resume, run_database_command},
    console_route{core::admin_verb::kill, run_database_command},
    console_route{core::admin_verb::show, run_show},
};

constexpr bool routes_every_verb() {
  for (int v = 0; v <= static_cast<int>(core::admin_verb::invalid); ++v) {
    bool found = false;
    for (const auto& route : console_routes) found = found || static_cast<int>(route.verb) == v;
    if (!found) return false;
  }
  return true;
}
static_assert(routes_every_verb(), "an admin_verb without a console route");

awaitable<std::string> run_command(console_context& c, std::string_view sql, std::string& out) {
  const auto cmd = core::parse_admin_command(sql);
  for (const auto& route : console_routes) {
    if (route.verb == cmd.verb) co_return co_await route.handler(c, cmd, out);
  }
  co_return "";
}

}  // namespace

awaitable<void> run_admin_console(worker& w, byte_stream& stream, byte_buffer& in, database_stats& stats,
                                  const explain_client& who) {
  console_link link{stream, in, stats, {}};
  bool skipping_to_sync = false;  // after an extended-protocol message: wait for Sync
  for (;;) {
    auto r = pr::decode_frame(in.data());
    if (r.status == pr::decode_status::need_more) {
      if (!co_await link.read_more()) co_return;
      continue;
    }
    if (r.status != pr::decode_status::ok) co_return co_await link.fail("invalid message on the admin console");
    const auto msg = r.msg;
    const std::string body(msg.body);
    in.consume(msg.size());
    if (msg.tag == 'X') co_return;
    if (msg.tag == 'S') {
      if (skipping_to_sync) pr::build::ready_for_query(link.out, pr::transaction_status::idle);
      skipping_to_sync = false;
      if (!co_await link.flush()) co_return;
      continue;
    }
    if (skipping_to_sync) continue;
    if (msg.tag != 'Q') {
      pr::build::error_response(link.out, pr::severity::error, pr::sqlstate::feature_not_supported,
                                "the admin console speaks only the simple query protocol (psql works)");
      skipping_to_sync = true;
      if (!co_await link.flush()) co_return;
      continue;
    }
    std::string_view sql;
    if (!pr::parse_query(body, sql)) co_return co_await link.fail("invalid Query message");
    const auto cfg = w.current_config();
    console_context c{w.shared(), co_await asio::this_coro::executor, *cfg, who};
    auto note = co_await run_command(c, sql, link.out);
    if (!note.empty()) spdlog::info("admin console: {}: {}", who.user, note);
    pr::build::ready_for_query(link.out, pr::transaction_status::idle);
    if (!co_await link.flush() || note == "shutdown") co_return;
  }
}

}  // namespace pgrelay::proxy
