// A deliberately small HTTP/1.1 server: GET only, one request per connection, bounded request
// size and time. Enough for Prometheus and load-balancer probes; nothing else is served.
#include "http_endpoint.hpp"

#include "blocking_work.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include "client_session.hpp"
#include "introspection.hpp"

namespace pgrelay::proxy {

namespace {

using prometheus::Labels;

constexpr std::size_t max_request = 8192;
constexpr millis request_timeout{5000};

prometheus::Histogram::BucketBoundaries bucket_bounds() {
  return {latency_histogram::bounds.begin(), latency_histogram::bounds.end()};
}

void observe(prometheus::Histogram& h, const latency_histogram& src) {
  std::vector<double> increments(src.counts.begin(), src.counts.end());
  h.ObserveMultiple(increments, static_cast<double>(src.total_us) / 1e6);
}

bool primaries_reachable(const std::vector<worker_snapshot>& all) {
  for (const auto& [db, topo] : latest_topologies(all)) {
    if (topo && !topo->primary.reachable) return false;
  }
  return true;
}

struct response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

awaitable<response> answer(worker& w, std::string_view path) {
  auto& shared = w.shared();
  if (path == "/healthz") co_return response{200, "text/plain; charset=utf-8", "ok\n"};
  if (path == "/readyz") {
    auto all = co_await snapshot_all(shared);
    if (shared.shutting_down) co_return response{503, "text/plain; charset=utf-8", "shutting down\n"};
    if (!primaries_reachable(all)) co_return response{503, "text/plain; charset=utf-8", "a primary is unreachable\n"};
    co_return response{200, "text/plain; charset=utf-8", "ready\n"};
  }
  if (path == "/metrics") {
    auto all = co_await snapshot_all(shared);
    co_return response{200, "text/plain; version=0.0.4; charset=utf-8", render_metrics(shared, all)};
  }
  co_return response{404, "text/plain; charset=utf-8", "not found: try /metrics, /healthz or /readyz\n"};
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 503: return "Service Unavailable";
  }
  return "Error";
}

awaitable<void> serve_one(worker& w, tcp::socket socket) {
  std::string request;
  char buf[2048];
  auto read_head = [&]() -> awaitable<bool> {
    while (request.find("\r\n\r\n") == std::string::npos) {
      if (request.size() > max_request) co_return false;
      auto [ec, n] = co_await socket.async_read_some(asio::buffer(buf), use_tuple);
      if (ec) co_return false;
      request.append(buf, n);
    }
    co_return true;
  };
  auto got = co_await with_timeout<bool>(read_head(), request_timeout);
  if (!got || !*got) co_return;
  response r;
  // The request line; substr clamps, so a missing CRLF can never make the view overrun.
  const auto line = std::string_view{request}.substr(0, request.find("\r\n"));
  auto sp1 = line.find(' ');
  auto sp2 = line.find(' ', sp1 == std::string_view::npos ? 0 : sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos) {
    r = {400, "text/plain; charset=utf-8", "bad request\n"};
  } else if (line.substr(0, sp1) != "GET") {
    r = {405, "text/plain; charset=utf-8", "only GET\n"};
  } else {
    auto path = line.substr(sp1 + 1, sp2 - sp1 - 1);
    path = path.substr(0, path.find('?'));
    r = co_await answer(w, path);
  }
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + std::string(reason_phrase(r.status)) +
                    "\r\nContent-Type: " + r.content_type + "\r\nContent-Length: " + std::to_string(r.body.size()) +
                    "\r\nConnection: close\r\n\r\n" + r.body;
  // A scraper that stops reading must not keep the connection and its buffer for ever.
  auto write_all = [&]() -> awaitable<bool> {
    auto [ec, n] = co_await asio::async_write(socket, asio::buffer(out), use_tuple);
    co_return !ec && n == out.size();
  };
  (void)co_await with_timeout<bool>(write_all(), request_timeout);
  error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
}

// Families are registered in the order they are printed: pools, traffic per database, pins,
// servers, then the process.

void add_pool_metrics(prometheus::Registry& registry, const std::vector<worker_snapshot>& all) {
  auto& clients = prometheus::BuildGauge().Name("pgrelay_pool_clients").Help("Clients of a pool by state").Register(registry);
  auto& servers = prometheus::BuildGauge().Name("pgrelay_pool_servers").Help("Server connections of a pool by state").Register(registry);
  auto& size = prometheus::BuildGauge().Name("pgrelay_pool_size").Help("Configured maximum servers of a pool").Register(registry);
  auto& maxwait = prometheus::BuildGauge().Name("pgrelay_pool_maxwait_seconds").Help("Longest current wait for a server").Register(registry);
  for (const auto& [key, p] : merged_pools(all)) {
    const auto& [db, user, target] = key;
    Labels base{{"database", db}, {"user", user}, {"target", target}};
    auto with = [&](const char* k, const char* v) {
      auto l = base;
      l[k] = v;
      return l;
    };
    clients.Add(with("state", "active")).Set(p.cl_active);
    clients.Add(with("state", "waiting")).Set(p.cl_waiting);
    servers.Add(with("state", "active")).Set(p.sv_active);
    servers.Add(with("state", "idle")).Set(p.sv_idle);
    size.Add(base).Set(p.size);
    maxwait.Add(base).Set(static_cast<double>(p.maxwait_us) / 1e6);
  }
}

// The counters of one database's traffic, registered once and filled per database.
struct traffic_families {
  prometheus::Family<prometheus::Counter>& queries;
  prometheus::Family<prometheus::Counter>& xacts;
  prometheus::Family<prometheus::Counter>& received;
  prometheus::Family<prometheus::Counter>& sent;
  prometheus::Family<prometheus::Counter>& logins;
  prometheus::Family<prometheus::Histogram>& query_time;
  prometheus::Family<prometheus::Histogram>& wait_time;
  prometheus::Family<prometheus::Counter>& routes;
  prometheus::Family<prometheus::Counter>& routed;
  prometheus::Family<prometheus::Counter>& errors;

  void add(const std::string& db, const database_stats& s) {
    Labels l{{"database", db}};
    queries.Add(l).Increment(static_cast<double>(s.queries));
    xacts.Add(l).Increment(static_cast<double>(s.transactions));
    received.Add(l).Increment(static_cast<double>(s.bytes_received));
    sent.Add(l).Increment(static_cast<double>(s.bytes_sent));
    logins.Add(l).Increment(static_cast<double>(s.clients_connected));
    observe(query_time.Add(l, bucket_bounds()), s.query_time);
    observe(wait_time.Add(l, bucket_bounds()), s.wait_time);
    for (std::size_t i = 0; i < s.routes.size(); ++i) {
      routes.Add({{"database", db}, {"reason", std::string(router::to_string(static_cast<router::route_reason>(i)))}})
          .Increment(static_cast<double>(s.routes[i]));
    }
    for (const auto& [target, n] : s.routes_to) routed.Add({{"database", db}, {"target", target}}).Increment(static_cast<double>(n));
    add_errors(db, s);
  }
  void add_errors(const std::string& db, const database_stats& s) {
    for (const auto& [cls, n] : s.errors_by_class) errors.Add({{"database", db}, {"class", cls}}).Increment(static_cast<double>(n));
  }
};

void add_traffic_metrics(prometheus::Registry& registry, const std::vector<worker_snapshot>& all) {
  traffic_families f{
      prometheus::BuildCounter().Name("pgrelay_queries_total").Help("Requests answered (one per ReadyForQuery)").Register(registry),
      prometheus::BuildCounter().Name("pgrelay_transactions_total").Help("Transactions completed").Register(registry),
      prometheus::BuildCounter().Name("pgrelay_received_bytes_total").Help("Bytes received from clients").Register(registry),
      prometheus::BuildCounter().Name("pgrelay_sent_bytes_total").Help("Bytes sent to clients").Register(registry),
      prometheus::BuildCounter().Name("pgrelay_client_logins_total").Help("Successful client logins").Register(registry),
      prometheus::BuildHistogram().Name("pgrelay_query_duration_seconds").Help("Request duration, first message to ReadyForQuery").Register(registry),
      prometheus::BuildHistogram().Name("pgrelay_wait_duration_seconds").Help("Time a request waited for a server").Register(registry),
      prometheus::BuildCounter().Name("pgrelay_routing_decisions_total").Help("Routing decisions by reason").Register(registry),
      prometheus::BuildCounter().Name("pgrelay_routed_requests_total").Help("Requests by target server").Register(registry),
      prometheus::BuildCounter().Name("pgrelay_errors_total").Help("ErrorResponses sent to clients by SQLSTATE class").Register(registry),
  };
  for (const auto& [db, s] : merged_stats(all)) {
    // Errors of sessions that never chose a database are counted under "" with nothing else.
    if (db.empty()) {
      f.add_errors(db, s);
    } else {
      f.add(db, s);
    }
  }
}

void add_pin_metrics(prometheus::Registry& registry, const shared_state& shared) {
  auto& pins = prometheus::BuildCounter().Name("pgrelay_pins_total").Help("Clients pinned to a server, by reason").Register(registry);
  for (std::size_t i = 0; i < pin_reason_count; ++i) {
    pins.Add({{"reason", std::string(core::pin_reasons[i].name)}})
        .Increment(static_cast<double>(shared.pins_by_reason[i].load(std::memory_order_relaxed)));
  }
}

// What the health checker last saw of every server: reachability, and each replica's lag.
void add_server_metrics(prometheus::Registry& registry, const std::vector<worker_snapshot>& all) {
  auto& lag_bytes = prometheus::BuildGauge().Name("pgrelay_replica_lag_bytes").Help("Replay lag behind the acting primary").Register(registry);
  auto& lag_seconds = prometheus::BuildGauge().Name("pgrelay_replica_lag_seconds").Help("How long the replica has been behind").Register(registry);
  auto& eligible = prometheus::BuildGauge().Name("pgrelay_replica_eligible").Help("1 when the replica may serve reads").Register(registry);
  auto& reachable = prometheus::BuildGauge().Name("pgrelay_server_reachable").Help("1 when the health checker reached the server").Register(registry);
  const auto now = router::clock::now();
  for (const auto& [db, topo] : latest_topologies(all)) {
    if (!topo) continue;
    reachable.Add({{"database", db}, {"server", topo->primary_name}}).Set(topo->primary.reachable ? 1 : 0);
    for (const auto& r : topo->replicas) {
      Labels l{{"database", db}, {"replica", r.name}};
      lag_bytes.Add(l).Set(static_cast<double>(router::lag_bytes(*topo, r)));
      lag_seconds.Add(l).Set(static_cast<double>(r.sample.replay_delay.count()) / 1000);
      eligible.Add(l).Set(router::eligible(*topo, r, now) ? 1 : 0);
      reachable.Add({{"database", db}, {"server", r.name}}).Set(r.sample.reachable ? 1 : 0);
    }
  }
}

void add_process_metrics(prometheus::Registry& registry, const shared_state& shared) {
  auto& reloads = prometheus::BuildCounter().Name("pgrelay_config_reloads_total").Help("Configuration reloads by result").Register(registry);
  reloads.Add({{"result", "ok"}}).Increment(static_cast<double>(shared.reloads.load()));
  reloads.Add({{"result", "failed"}}).Increment(static_cast<double>(shared.reload_failures.load()));
  auto& sessions = prometheus::BuildGauge().Name("pgrelay_client_connections").Help("Open client connections").Register(registry);
  sessions.Add({}).Set(static_cast<double>(shared.live_sessions.load()));
  auto& parked = prometheus::BuildGauge().Name("pgrelay_client_connections_parked")
                     .Help("Idle client connections parked: no read buffer, no coroutine").Register(registry);
  parked.Add({}).Set(static_cast<double>(shared.parked_sessions.load()));
  auto& compact = prometheus::BuildGauge().Name("pgrelay_client_connections_parked_compact")
                      .Help("Parked client connections whose socket waits outside the event loop (compact_parking_after)")
                      .Register(registry);
  compact.Add({}).Set(static_cast<double>(shared.parked_compactly.load()));
  auto& pbkdf2 = prometheus::BuildCounter().Name("pgrelay_scram_pbkdf2_total")
                     .Help("PBKDF2 runs for server logins with a password (never with pass-through)").Register(registry);
  pbkdf2.Add({}).Increment(static_cast<double>(pbkdf2_computations().load(std::memory_order_relaxed)));
  auto& started = prometheus::BuildGauge().Name("pgrelay_start_time_seconds").Help("Start time, seconds since the epoch").Register(registry);
  started.Add({}).Set(std::chrono::duration<double>(shared.started_at.time_since_epoch()).count());
}

}  // namespace

std::string render_metrics(const shared_state& shared, const std::vector<worker_snapshot>& all) {
  prometheus::Registry registry;
  add_pool_metrics(registry, all);
  add_traffic_metrics(registry, all);
  add_pin_metrics(registry, shared);
  add_server_metrics(registry, all);
  add_process_metrics(registry, shared);
  prometheus::TextSerializer serializer;
  return serializer.Serialize(registry.Collect());
}

std::shared_ptr<void> start_http_endpoint(worker& w, const conf::endpoint& address) {
  auto acceptor = std::make_shared<asio::ip::tcp::acceptor>(w.io());
  asio::ip::tcp::endpoint ep(asio::ip::make_address(address.host), address.port);
  acceptor->open(ep.protocol());
  acceptor->set_option(asio::socket_base::reuse_address(true));
  acceptor->bind(ep);
  acceptor->listen();
  spdlog::info("http endpoint listening on {} (/metrics, /healthz, /readyz)", address.to_string());
  asio::co_spawn(
      w.io(),
      [&w, acceptor]() -> awaitable<void> {
        for (;;) {
          auto [ec, socket] = co_await acceptor->async_accept(use_tuple);
          if (ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
          if (ec) {
            spdlog::warn("http endpoint: accept failed: {}", ec.message());
            co_await pause_after_accept_error();
            continue;
          }
          asio::co_spawn(w.io(), serve_one(w, std::move(socket)), asio::detached);
        }
      },
      asio::detached);
  return acceptor;
}

}  // namespace pgrelay::proxy
