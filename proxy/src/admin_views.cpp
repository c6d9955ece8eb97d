// The admin console's SHOW views. They keep PgBouncer's column names where PgBouncer has the
// view, so existing exporters and dashboards read them; pgrelay's own columns come after.
#include "admin_views.hpp"

#include <array>
#include <iomanip>
#include <sstream>

#include "introspection.hpp"
#include "pgrelay/conf/load.hpp"
#include "pgrelay/core/pin_reasons.hpp"
#include "pgrelay/protocol/writer.hpp"
#include "pgrelay/router/function_catalog.hpp"
#include "pgrelay/router/route.hpp"
#include "routing_inputs.hpp"

namespace pgrelay::proxy {

namespace pr = pgrelay::protocol;

void table::write(std::string& out) const {
  pr::build::row_description_text(out, columns);
  std::vector<std::string_view> values;
  for (const auto& row : rows) {
    values.assign(row.begin(), row.end());
    pr::build::data_row_text(out, values);
  }
  pr::build::command_complete(out, "SHOW");
}

namespace {

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

// A peer or server address as text ("host:port", "[v6]:port", "unix:/path"), read by the same
// parser as the YAML's addresses.
std::pair<std::string, std::string> split_address(const std::string& addr) {
  auto parsed = conf::parse_endpoint(addr);
  return parsed.value ? host_port(*parsed.value) : std::pair{addr, std::string()};
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
  row("compact_parking_after", num(cfg.compact_parking_after), true);
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

// What each command does, for SHOW HELP.
constexpr std::string_view help_lines[] = {
    "SHOW POOLS | STATS | SERVERS | CLIENTS | DATABASES | REPLICAS | CONFIG | VERSION | PINS | ROUTES",
    "SHOW ROUTE 'statement'   -- where it would go now, and why",
    "RELOAD                   -- re-read the config file (an invalid file changes nothing)",
    "PAUSE [db] / RESUME [db] -- hold new requests once those in flight are done / let them go",
    "KILL db                  -- disconnect every client of db now",
    "SHUTDOWN                 -- graceful, as SIGTERM",
};

table show_help(const view_input&) {
  table t{{"command"}, {}};
  for (auto line : help_lines) t.rows.push_back({std::string(line)});
  return t;
}

table show_version(const view_input&) { return {{"version"}, {{std::string("pgrelay ") + PGRELAY_VERSION}}}; }

table show_pins(const view_input& in) {
  table t{{"reason", "count"}, {}};
  for (std::size_t i = 0; i < core::pin_reason_count; ++i) {
    t.rows.push_back({std::string(core::pin_reasons[i].name),
                      num(in.shared.pins_by_reason[i].load(std::memory_order_relaxed))});
  }
  return t;
}

table show_routes(const view_input& in) {
  table t{{"database", "reason", "count"}, {}};
  for (const auto& [db, s] : merged_stats(in.workers)) {
    for (std::size_t i = 0; i < s.routes.size(); ++i) {
      if (s.routes[i]) {
        t.rows.push_back({db, std::string(router::to_string(static_cast<router::route_reason>(i))), num(s.routes[i])});
      }
    }
    for (const auto& [target, n] : s.routes_to) t.rows.push_back({db, "to " + target, num(n)});
  }
  return t;
}

table show_route(const view_input& in) {
  table t{{"database", "explanation"}, {}};
  auto topologies = latest_topologies(in.workers);
  for (const auto& [name, db] : in.config.databases) {
    auto topo = topologies[name];
    auto catalog = function_catalog_for(db, topo.get());
    for (auto& line : explain_route(db, catalog, topo.get(), in.client, in.command.argument)) {
      t.rows.push_back({name, std::move(line)});
    }
  }
  return t;
}

struct show_view {
  std::string_view name;
  table (*build)(const view_input&);
  bool reads_workers = true;
};

// In the order of core::admin_show_views, which the parser accepts (checked below).
constexpr show_view show_views[] = {
    {"pools", [](const view_input& in) { return show_pools(in.workers); }},
    {"stats",
     [](const view_input& in) {
       const auto up = std::chrono::system_clock::now() - in.shared.started_at;
       return show_stats(in.workers, std::chrono::duration<double>(up).count());
     }},
    {"servers", [](const view_input& in) { return show_servers(in.workers); }},
    {"clients", [](const view_input& in) { return show_clients(in.workers); }},
    {"databases", [](const view_input& in) { return show_databases(in.config, in.workers, in.paused); }},
    {"replicas", [](const view_input& in) { return show_replicas(in.workers); }},
    {"config", [](const view_input& in) { return show_config(in.config); }, false},
    {"version", show_version, false},
    {"pins", show_pins, false},
    {"routes", show_routes},
    {"route", show_route},
    {"help", show_help, false},
};

constexpr bool views_match_the_parser() {
  if (std::size(show_views) != std::size(core::admin_show_views)) return false;
  for (std::size_t i = 0; i < std::size(show_views); ++i) {
    if (show_views[i].name != core::admin_show_views[i]) return false;
  }
  return true;
}
static_assert(views_match_the_parser(), "every view the parser accepts needs a builder, in the same order");

}  // namespace

bool view_reads_workers(std::string_view name) {
  for (const auto& v : show_views) {
    if (v.name == name) return v.reads_workers;
  }
  return false;
}

table build_view(std::string_view name, const view_input& in) {
  for (const auto& v : show_views) {
    if (v.name == name) return v.build(in);
  }
  return {{"error"}, {{"no such view"}}};  // the parser accepts only the names above
}

}  // namespace pgrelay::proxy
