// Borrowing and giving back a server: attach it with the client's settings, the steps at a
// quiet point (core::session_ledger says which), release, and the cleanup after a client left.
#include <spdlog/spdlog.h>

#include "client_session.hpp"
#include "pgrelay/core/log_text.hpp"
#include "pgrelay/protocol/errors.hpp"
#include "pgrelay/protocol/writer.hpp"
#include "pool.hpp"
#include "worker.hpp"

namespace pgrelay::proxy {

namespace pr = pgrelay::protocol;

awaitable<bool> client_session::after_quiet_point() {
  for (;;) {
    switch (core_.ledger.next_quiet_step()) {
      case core::quiet_step::keep:
        co_return true;
      case core::quiet_step::check_advisory_locks: {
        const bool held = co_await advisory_locks_held();
        core_.ledger.advisory_locks_checked(held);
        if (!held) spdlog::info("client {}: holds no advisory lock any more; unpinned", peer_);
        break;
      }
      case core::quiet_step::probe:
        if (!co_await probe_session_state()) co_return true;  // the server is closed
        break;
      case core::quiet_step::verify_settings:
        if (!co_await record_verified_settings()) {
          release_server(false);  // its settings are unknown: never lend it again
          co_return true;
        }
        break;
      case core::quiet_step::restore_startup:
        if (!co_await restore_startup_parameters()) co_return false;
        break;
      case core::quiet_step::release:
        co_return release_after_quiet_point();
    }
  }
}

awaitable<bool> client_session::restore_startup_parameters() {
  // After RESET ALL / DISCARD ALL the client's startup settings hold again, as they would on a
  // direct connection; tell the client what they are.
  core_.ledger.startup_restored();
  auto sql = core_.ledger.sync_sql(server_->settings());
  if (!sql.empty() && !co_await sync_parameters(*server_, sql)) co_return false;
  for (const auto& [name, value] : core_.ledger.startup_wanted()) {
    auto n = server_->reported_names().find(name);
    auto v = server_->reported().find(name);
    if (n != server_->reported_names().end() && v != server_->reported().end()) {
      pr::build::parameter_status(client_io_->out, n->second, v->second);
    }
  }
  co_return co_await write_client({});
}

bool client_session::release_after_quiet_point() {
  // Answers still expected at a quiet point mean the bookkeeping lost track: do not reuse.
  bool in_step = server_->statements().responses.empty();
  if (!in_step) spdlog::warn("client {}: response tracking out of step; closing server {}", peer_, server_->id());
  server_->statements().responses.clear();
  release_server(in_step);
  client_io_->in.release_if_empty();
  return true;
}

bool client_session::attach_idle_server(std::string& sql) {
  auto server = pool_->take_now();
  if (!server) return false;
  stats_->wait_time.observe(std::chrono::microseconds{0});
  sql = adopt_server(std::move(server));
  return true;
}

std::string client_session::adopt_server(std::unique_ptr<server_connection> server) {
  server_ = std::move(server);
  core_.running().replay.attached();
  server_->tracker().reset();
  client_io_->server_scanner.reset();
  return core_.ledger.sync_sql(server_->settings());
}

awaitable<client_session::attach_result> client_session::attach_server() {
  const auto wait_started = clock::now();
  core_.waiting_for_server = true;
  acquire_result got{pool_->take_now(), {}};
  if (!got.server) got = co_await pool_->acquire();
  core_.waiting_for_server = false;
  auto sql = adopt_acquired(got, wait_started);
  if (!sql) co_return co_await attach_after_refusal(std::move(got), wait_started);
  if (!sql->empty() && !co_await sync_parameters(*server_, *sql)) co_return attach_result::failed;
  co_return attach_result::attached;
}

std::optional<std::string> client_session::adopt_acquired(acquire_result& got, clock::time_point wait_started) {
  if (!got.server) return std::nullopt;
  stats_->wait_time.observe(std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - wait_started));
  return adopt_server(std::move(got.server));
}

awaitable<client_session::attach_result> client_session::attach_after_refusal(acquire_result got,
                                                                              clock::time_point wait_started) {
  if (pool_ != primary_pool_ && got.error.sqlstate != pr::sqlstate::too_many_connections) {
    // A replica that cannot be reached serves no byte: the read goes to the primary instead.
    spdlog::warn("client {}: replica unreachable ({}); reading from the primary", peer_, got.error.message);
    worker_.shared().replica_fallbacks.fetch_add(1, std::memory_order_relaxed);
    ++stats_->routes[static_cast<std::size_t>(router::route_reason::retried_replica_failed)];
    pool_ = primary_pool_;
    got = co_await pool_->acquire();
    if (auto sql = adopt_acquired(got, wait_started)) {
      if (!sql->empty() && !co_await sync_parameters(*server_, *sql)) co_return attach_result::failed;
      co_return attach_result::attached;
    }
  }
  spdlog::warn("client {}: no server for {}/{}: {}", peer_, core_.who.database, core::log_escape(core_.who.user),
               got.error.message);
  if (auto unit = core_.who.session_mode ? 0 : whole_unit_size(); unit > 0) {
    // Nothing reached a server and no transaction is open (in transaction mode a server is
    // held for the whole transaction): the request fails alone, the session goes on.
    pr::build::error_response(client_io_->out, pr::severity::error, got.error.sqlstate, got.error.message);
    ++stats_->errors_by_class[got.error.sqlstate.substr(0, 2)];
    pr::build::ready_for_query(client_io_->out, pr::transaction_status::idle);
    client_io_->in.consume(unit);
    core_.running().replay.forget();
    if (!co_await write_client({})) {
      core_.reason = disconnect_reason::client_eof;
      co_return attach_result::failed;
    }
    co_return attach_result::refused;
  }
  core_.reason = got.error.sqlstate == pr::sqlstate::too_many_connections ? disconnect_reason::wait_timeout
                                                                      : disconnect_reason::server_lost;
  co_await fail(got.error.sqlstate, got.error.message);
  co_return attach_result::failed;
}

awaitable<bool> client_session::sync_parameters(server_connection& server, std::string& sql) {
  auto err = co_await server.run_internal(std::move(sql), pool_->settings().connect_timeout);
  // Settings reported back are the server's spelling of what the client asked for.
  core_.ledger.adopt_reported(server.reported(), server.settings());
  if (core_.ledger.owns_wanted()) core_.ledger.share_wanted(pool_->shared_settings(core_.ledger.wanted()));
  if (err) {
    if (core_.reason != disconnect_reason::login_failed) core_.reason = disconnect_reason::session_sync_failed;
    // Its settings are now unknown (a failed string undoes all of it): never lend it again.
    spdlog::warn("client {}: applying session settings on server {} failed ({}: {}); closing it", peer_, server.id(),
                 err.sqlstate, err.message);
    release_server(false);
    co_await fail(err.sqlstate, err.message);
    co_return false;
  }
  co_return true;
}

void client_session::release_server(bool clean) {
  if (!server_) return;
  server_->read_buf().release_if_empty();
  pool_->release(std::move(server_), clean);
}

awaitable<void> client_session::detach_after_client_left() {
  if (!server_) co_return;
  auto& tracker = server_->tracker();
  if (!tracker.awaiting_client() || client_frames_.mid_forwarded_frame()) {
    // A query is running, or a request was cut in half: stop it and drop the connection.
    forward_cancel();
    release_server(false);
    co_return;
  }
  if (tracker.in_transaction()) {
    auto err = co_await server_->run_internal("ROLLBACK", cancel_grace);
    if (err || !server_->tracker().quiet()) {
      release_server(false);
      co_return;
    }
  }
  if (core_.who.session_mode || core_.ledger.left_state_on_server()) {
    // Whatever pinned it (LISTEN, locks, temp tables, cursors, PREPARE, roles), or an opaque
    // statement may have left, dies here.
    auto err = co_await server_->run_internal("DISCARD ALL", cancel_grace);
    server_->settings().discarded();
    server_->statements().clear();
    if (err) {
      release_server(false);
      co_return;
    }
  }
  release_server(true);
}

}  // namespace pgrelay::proxy
