// The admin console: a virtual database (`pgrelay`, alias `pgbouncer`) that speaks the simple
// query protocol. Views keep PgBouncer's column names where PgBouncer has the view, so existing
// exporters and dashboards read them; pgrelay's own columns come after.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <iomanip>
#include <sstream>

#include "client_session.hpp"
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

struct table {
  std::vector<std::string_view> columns;
  std::vector<std::vector<std::string>> rows;

  void write(std::string& out) const {
    pr::build::row_description_text(out, columns);
    std::vector<std::string_view> values;
    for (const auto& row : rows) {
      values.assign(row.begin(), row.end());
      pr::build::data_row_text(out, values);
    }
    pr::build::command_complete(out, "SHOW");
  }
};

std::string num(std::uint64_t v) { return std::to_string(v); }

std::string fixed(double v, int digits = 3) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

std::pair<std::string, std::string> host_port(const conf::endpoint& e) {
  if (e.is_unix()) return {e.unix_path, ""};
  return {e.host, std::to_string(e.port)};
}

std::pair<std::string, std::string> split_address(const std::string& addr) {
  auto colon = addr.rfind(':');
  if (colon == std::string::npos || addr.starts_with("unix:")) return {addr, ""};
  return {addr.substr(0, colon), addr.substr(colon + 1)};
}

table show_pools(const std::vector<worker_snapshot>& all) {
  table t{{"database", "user", "cl_active", "cl_waiting", "cl_cancel_req", "sv_active", "sv_idle", "sv_used",
           "sv_tested", "sv_login", "maxwait", "maxwait_us", "pool_mode", "target", "pool_size"},
          {}};
  for (const auto& [key, p] : merged_pools(all)) {
    t.rows.push_back({p.database, p.user, num(p.cl_active), num(p.cl_waiting), "0", num(p.sv_active), num(p.sv_idle), "0",
                      "0", "0", num(p.maxwait_us / 1'000'000), num(p.maxwait_us % 1'000'000), p.mode, p.target,
                      num(p.size)});
  }
  return t;
}

table show_stats(const std::vector<worker_snapshot>& all, double uptime) {
  table t{{"database", "total_xact_count", "total_query_count", "total_received", "total_sent", "total_xact_time",
           "total_query_time", "total_wait_time", "avg_xact_count", "avg_query_count", "avg_recv", "avg_sent",
           "avg_xact_time", "avg_query_time", "avg_wait_time"},
          {}};
  for (const auto& [db, s] : merged_stats(all)) {
    if (db.empty()) continue;
    const double secs = std::max(uptime, 1.0);
    auto per = [](std::uint64_t total, std::uint64_t n) { return n ? total / n : 0; };
    t.rows.push_back({db, num(s.transactions), num(s.queries), num(s.bytes_received), num(s.bytes_sent),
                      num(s.xact_time_us), num(s.query_time.total_us), num(s.wait_time.total_us),
                      num(static_cast<std::uint64_t>(static_cast<double>(s.transactions) / secs)),
                      num(static_cast<std::uint64_t>(static_cast<double>(s.queries) / secs)),
                      num(static_cast<std::uint64_t>(static_cast<double>(s.bytes_received) / secs)),
                      num(static_cast<std::uint64_t>(static_cast<double>(s.bytes_sent) / secs)),
                      num(per(s.xact_time_us, s.transactions)), num(per(s.query_time.total_us, s.queries)),
                      num(per(s.wait_time.total_us, s.wait_time.samples))});
  }
  return t;
}

table show_servers(const std::vector<worker_snapshot>& all) {
  table t{{"type", "user", "database", "state", "addr", "port", "connect_time", "remote_pid", "target", "id", "tls"}, {}};
  for (const auto& snap : all) {
    for (const auto& s : snap.servers) {
      auto [host, port] = split_address(s.address);
      t.rows.push_back({"S", s.user, s.database, s.state, host, port, fixed(s.age_seconds) + "s ago",
                        std::to_string(s.backend_pid), s.target, num(s.id), s.tls});
    }
  }
  return t;
}

table show_clients(const std::vector<worker_snapshot>& all) {
  table t{{"type", "user", "database", "state", "addr", "port", "connect_time", "application_name", "transactions",
           "pins", "server_id", "tls"},
          {}};
  for (const auto& snap : all) {
    for (const auto& c : snap.clients) {
      auto [host, port] = split_address(c.address);
      t.rows.push_back({"C", c.user, c.database, c.state, host, port, fixed(c.connected_seconds) + "s ago",
                        c.application_name, num(c.transactions), num(c.pins), c.server, c.tls});
    }
  }
  return t;
}

table show_databases(const conf::config& cfg, const std::vector<worker_snapshot>& all,
                     const std::set<std::string>& paused) {
  table t{{"name", "host", "port", "database", "force_user", "pool_size", "min_pool_size", "pool_mode",
           "max_connections", "current_connections", "paused", "disabled", "replicas", "routing"},
          {}};
  for (const auto& [name, db] : cfg.databases) {
    std::uint64_t current = 0;
    for (const auto& snap : all) {
      for (const auto& p : snap.pools) {
        if (p.database == name) current += p.sv_active + p.sv_idle;
      }
    }
    auto pool = apply(cfg.pool, db.pool);
    auto [host, port] = host_port(db.primary);
    t.rows.push_back({name, host, port, db.server_database, db.server_user, num(pool.cap()), num(pool.min_idle),
                      pool.mode == conf::pool_mode::session ? "session" : "transaction", num(pool.max_clients),
                      num(current), paused.contains(name) || paused.contains("") ? "1" : "0", "0",
                      num(db.replicas.size()), db.routing.enabled ? "on" : "off"});
  }
  return t;
}

table show_replicas(const std::vector<worker_snapshot>& all) {
  table t{{"database", "name", "roles", "reachable", "in_recovery", "lag_bytes", "lag_seconds", "eligible",
           "last_check_seconds_ago", "max_lag_bytes", "max_lag_seconds", "acting_primary"},
          {}};
  const auto now = router::clock::now();
  auto ago = [&](router::clock::time_point at) {
    return at == router::clock::time_point{} ? std::string("never")
                                              : fixed(std::chrono::duration<double>(now - at).count());
  };
  for (const auto& [db, topo] : latest_topologies(all)) {
    if (!topo) continue;
    for (const auto& r : topo->replicas) {
      std::string roles;
      for (const auto& role : r.roles) roles += (roles.empty() ? "" : ",") + role;
      t.rows.push_back({db, r.name, roles, r.sample.reachable ? "yes" : "no", r.sample.in_recovery ? "yes" : "no",
                        num(router::lag_bytes(*topo, r)), fixed(static_cast<double>(r.sample.replay_delay.count()) / 1000),
                        router::eligible(*topo, r, now) ? "yes" : "no", ago(r.sample.sampled_at),
                        num(r.limits.max_bytes), fixed(static_cast<double>(r.limits.max_time.count()) / 1000),
                        topo->primary_name});
    }
  }
  return t;
}

table show_config(const conf::config& cfg) {
  table t{{"key", "value", "default", "changeable"}, {}};
  auto ms = [](conf::duration d) { return std::to_string(d.count()) + "ms"; };
  std::string listen;
  for (const auto& e : cfg.listen) listen += (listen.empty() ? "" : ", ") + e.to_string();
  auto row = [&](std::string key, std::string value, bool reloadable) {
    t.rows.push_back({std::move(key), std::move(value), "", reloadable ? "yes" : "no"});
  };
  row("config_file", cfg.source_path, false);
  row("listen", listen, false);
  row("workers", cfg.workers == 0 ? "auto" : num(cfg.workers), false);
  row("auth.method", cfg.auth.method == conf::auth_method::trust ? "trust" : "scram-sha-256", true);
  row("auth.users_file", cfg.auth.users_file, true);
  row("auth.user", cfg.auth.query.user, true);
  row("auth.cache_ttl", ms(cfg.auth.cache_ttl), true);
  row("max_db_connections", num(cfg.max_db_connections), true);
  row("max_user_connections", num(cfg.max_user_connections), true);
  row("log.format", cfg.log.format == conf::log_format::json ? "json" : "text", false);
  row("log.level", cfg.log.level, true);
  row("log.slow_query", ms(cfg.log.slow_query), true);
  row("auth_timeout", ms(cfg.auth_timeout), true);
  row("max_pending_logins", num(cfg.max_pending_logins), true);
  row("shutdown_timeout", ms(cfg.shutdown_timeout), true);
  row("max_prepared_per_server", num(cfg.max_prepared_per_server), true);
  row("pool.mode", cfg.pool.mode == conf::pool_mode::session ? "session" : "transaction", true);
  row("pool.size", cfg.pool.size_auto ? "auto" : num(cfg.pool.size), true);
  row("pool.max_size", num(cfg.pool.max_size), true);
  row("pool.min_idle", num(cfg.pool.min_idle), true);
  row("pool.max_clients", num(cfg.pool.max_clients), true);
  row("pool.connect_timeout", ms(cfg.pool.connect_timeout), true);
  row("pool.wait_timeout", ms(cfg.pool.wait_timeout), true);
  row("pool.server_idle_timeout", ms(cfg.pool.server_idle_timeout), true);
  row("pool.server_lifetime", ms(cfg.pool.server_lifetime), true);
  row("pool.server_max_uses", num(cfg.pool.server_max_uses), true);
  row("pool.query_timeout", ms(cfg.pool.query_timeout), true);
  row("pool.idle_in_transaction_timeout", ms(cfg.pool.idle_in_transaction_timeout), true);
  if (cfg.admin.http_listen) row("admin.http_listen", cfg.admin.http_listen->to_string(), false);
  return t;
}

const char* const help_lines[] = {
    "SHOW POOLS | STATS | SERVERS | CLIENTS | DATABASES | REPLICAS | CONFIG | VERSION | PINS | ROUTES",
    "SHOW ROUTE 'statement'   -- where it would go now, and why",
    "RELOAD                   -- re-read the config file (an invalid file changes nothing)",
    "PAUSE [db] / RESUME [db] -- hold new requests once those in flight are done / let them go",
    "KILL db                  -- disconnect every client of db now",
    "SHUTDOWN                 -- graceful, as SIGTERM",
};

}  // namespace

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

// Appends the command's answer to `out`; returns a short note for the log ("" when nothing to say).
awaitable<std::string> client_session::run_console_command(std::string_view sql, std::string& out) {
  auto cmd = core::parse_admin_command(sql);
  auto& shared = worker_.shared_;
  const auto cfg = worker_.current_config();
  switch (cmd.verb) {
    case core::admin_verb::empty:
      pr::build::empty_query_response(out);
      co_return "";
    case core::admin_verb::invalid:
      pr::build::error_response(out, pr::severity::error, pr::sqlstate::syntax_error, cmd.error);
      co_return "rejected: " + cmd.error;
    case core::admin_verb::reload: {
      spdlog::info("admin console: {} asked for RELOAD", user_);
      // Off this worker's loop: loading the file and restarting the health checker may block.
      // (No co_await inside ?: and no temporaries with destructors in a co_await expression:
      // GCC 12 destroys those twice.)
      std::string problems = "reload is not available";
      if (shared.control.reload) {
        auto* sh = &shared;
        problems = co_await asio::co_spawn(
            shared.control.executor, [sh]() -> awaitable<std::string> { co_return sh->control.reload(); },
            asio::use_awaitable);
      }
      if (!problems.empty()) {
        pr::build::error_response(out, pr::severity::error, "F0000",
                                  "the new configuration is invalid; nothing was changed", problems);
        co_return "reload refused";
      }
      pr::build::command_complete(out, "RELOAD");
      co_return "";
    }
    case core::admin_verb::shutdown:
      spdlog::info("admin console: {} asked for SHUTDOWN", user_);
      pr::build::command_complete(out, "SHUTDOWN");
      if (shared.control.shutdown) shared.control.shutdown();
      co_return "shutdown";
    case core::admin_verb::pause:
    case core::admin_verb::resume:
    case core::admin_verb::kill: {
      const auto& db = cmd.argument;
      if (!db.empty() && !cfg->databases.contains(db)) {
        pr::build::error_response(out, pr::severity::error, pr::sqlstate::invalid_catalog_name,
                                  "no database \"" + db + "\" in the configuration");
        co_return "unknown database " + db;
      }
      if (cmd.verb == core::admin_verb::resume) {
        for (auto* w : shared.workers) co_await run_on(*w, [w, &db] { w->resume(db); return 0; });
        pr::build::command_complete(out, "RESUME");
        co_return "";
      }
      if (cmd.verb == core::admin_verb::kill) {
        for (auto* w : shared.workers) co_await run_on(*w, [w, &db] { w->kill(db); return 0; });
        pr::build::command_complete(out, "KILL");
        co_return "killed the clients of " + db;
      }
      for (auto* w : shared.workers) co_await run_on(*w, [w, &db] { w->pause(db); return 0; });
      // PAUSE answers once the requests in flight are done (bounded, so the console never hangs).
      asio::steady_timer timer(socket_.get_executor());
      const auto deadline = clock::now() + std::chrono::seconds(60);
      for (;;) {
        std::size_t busy = 0;
        for (auto* w : shared.workers) busy += co_await run_on(*w, [w, &db] { return w->sessions_with_server(db); });
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
    case core::admin_verb::show:
      break;
  }

  const auto& what = cmd.what;
  if (what == "help") {
    table t{{"command"}, {}};
    for (const auto* line : help_lines) t.rows.push_back({line});
    t.write(out);
    co_return "";
  }
  if (what == "version") {
    table t{{"version"}, {{std::string("pgrelay ") + PGRELAY_VERSION}}};
    t.write(out);
    co_return "";
  }
  if (what == "config") {
    show_config(*cfg).write(out);
    co_return "";
  }
  if (what == "pins") {
    table t{{"reason", "count"}, {}};
    for (std::size_t i = 0; i < pin_reason_count; ++i) {
      t.rows.push_back({std::string(to_string(static_cast<pin_reason>(i))),
                        num(shared.pins_by_reason[i].load(std::memory_order_relaxed))});
    }
    t.write(out);
    co_return "";
  }
  auto all = co_await snapshot_all(shared);
  if (what == "pools") {
    show_pools(all).write(out);
  } else if (what == "stats") {
    show_stats(all, std::chrono::duration<double>(std::chrono::system_clock::now() - shared.started_at).count()).write(out);
  } else if (what == "servers") {
    show_servers(all).write(out);
  } else if (what == "clients") {
    show_clients(all).write(out);
  } else if (what == "databases") {
    std::set<std::string> paused;
    for (auto* w : shared.workers) {
      auto p = co_await run_on(*w, [w] { return w->paused_databases(); });
      paused.insert(p.begin(), p.end());
    }
    show_databases(*cfg, all, paused).write(out);
  } else if (what == "replicas") {
    show_replicas(all).write(out);
  } else if (what == "routes") {
    table t{{"database", "reason", "count"}, {}};
    for (const auto& [db, s] : merged_stats(all)) {
      for (std::size_t i = 0; i < s.routes.size(); ++i) {
        if (s.routes[i]) t.rows.push_back({db, std::string(router::to_string(static_cast<router::route_reason>(i))), num(s.routes[i])});
      }
      for (const auto& [target, n] : s.routes_to) t.rows.push_back({db, "to " + target, num(n)});
    }
    t.write(out);
  } else if (what == "route") {
    table t{{"database", "explanation"}, {}};
    auto topologies = latest_topologies(all);
    for (const auto& [name, db] : cfg->databases) {
      auto topo = topologies[name];
      auto catalog = function_catalog_for(db, topo.get());
      for (auto& line : explain_route(db, catalog, topo.get(), explain_client{user_, application_name_}, cmd.argument)) {
        t.rows.push_back({name, std::move(line)});
      }
    }
    t.write(out);
  }
  co_return "";
}

}  // namespace pgrelay::proxy
