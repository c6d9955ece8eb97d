// The admin console: a virtual database (`pgrelay`, alias `pgbouncer`) that speaks the simple
// query protocol. This file reads its commands and runs them; the SHOW views are built in
// admin_views.cpp.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <iomanip>
#include <sstream>

#include "client_session.hpp"
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

awaitable<void> client_session::run_console() {
  reason_ = disconnect_reason::client_eof;
  bool skipping_to_sync = false;  // after an extended-protocol message: wait for Sync
  for (;;) {
    auto data = in_.data();
    auto r = pr::decode_frame(data);
    if (r.status == pr::decode_status::need_more) {
      if (!co_await read_client_some()) co_return;
      continue;
    }
    if (r.status != pr::decode_status::ok) {
      co_await fail(pr::sqlstate::protocol_violation, "invalid message on the admin console");
      co_return;
    }
    const auto msg = r.msg;
    const std::string body(msg.body);
    in_.consume(msg.size());
    if (msg.tag == 'X') co_return;
    if (msg.tag == 'S') {
      if (skipping_to_sync) pr::build::ready_for_query(out_, pr::transaction_status::idle);
      skipping_to_sync = false;
      if (!co_await write_client({})) co_return;
      continue;
    }
    if (skipping_to_sync) continue;
    if (msg.tag != 'Q') {
      pr::build::error_response(out_, pr::severity::error, pr::sqlstate::feature_not_supported,
                                "the admin console speaks only the simple query protocol (psql works)");
      skipping_to_sync = true;
      if (!co_await write_client({})) co_return;
      continue;
    }
    std::string_view sql;
    if (!pr::parse_query(body, sql)) {
      co_await fail(pr::sqlstate::protocol_violation, "invalid Query message");
      co_return;
    }
    auto error = co_await run_console_command(sql, out_);
    if (!error.empty()) spdlog::info("admin console: {}: {}", user_, error);
    pr::build::ready_for_query(out_, pr::transaction_status::idle);
    if (!co_await write_client({})) co_return;
    if (error == "shutdown") co_return;
  }
}

namespace {

// What a command runs with: the process's shared state, the console client's own loop, and the
// configuration as this worker sees it.
struct console_context {
  shared_state& shared;
  asio::any_io_executor executor;
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
    problems = co_await asio::co_spawn(
        c.shared.control.executor, [sh]() -> awaitable<std::string> { co_return sh->control.reload(); },
        asio::use_awaitable);
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

}  // namespace

// Appends the command's answer to `out`; returns a short note for the log ("" when nothing to say).
awaitable<std::string> client_session::run_console_command(std::string_view sql, std::string& out) {
  const auto cmd = core::parse_admin_command(sql);
  const auto cfg = worker_.current_config();
  const explain_client client{user_, application_name_};
  console_context c{worker_.shared(), socket_.get_executor(), *cfg, client};
  switch (cmd.verb) {
    case core::admin_verb::empty:
      pr::build::empty_query_response(out);
      co_return "";
    case core::admin_verb::invalid:
      pr::build::error_response(out, pr::severity::error, pr::sqlstate::syntax_error, cmd.error);
      co_return "rejected: " + cmd.error;
    case core::admin_verb::reload: co_return co_await run_reload(c, out);
    case core::admin_verb::shutdown: co_return co_await run_shutdown(c, out);
    case core::admin_verb::pause:
    case core::admin_verb::resume:
    case core::admin_verb::kill: co_return co_await run_database_command(c, cmd, out);
    case core::admin_verb::show: co_return co_await run_show(c, cmd, out);
  }
  co_return "";
}

}  // namespace pgrelay::proxy
