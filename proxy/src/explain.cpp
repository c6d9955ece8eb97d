// The routing explanation uses the same pure functions as the data path, fed with one fresh
// health round, so what it prints is what a client would get.
#include "explain.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>

#include "health_checker.hpp"
#include "pgrelay/conf/load.hpp"
#include "pgrelay/router/classify.hpp"
#include "pgrelay/router/function_catalog.hpp"
#include "pgrelay/router/route.hpp"

namespace pgrelay::proxy {

namespace {

router::topology_ptr one_health_round(std::shared_ptr<const conf::config> cfg, const std::string& database) {
  std::mutex m;
  std::condition_variable cv;
  router::topology_ptr got;
  health_checker checker(cfg, [&](router::topology_ptr t) {
    if (t->database != database) return;
    std::lock_guard lock(m);
    got = std::move(t);
    cv.notify_all();
  });
  checker.start();
  {
    std::unique_lock lock(m);
    cv.wait_for(lock, std::chrono::seconds(10), [&] { return got != nullptr; });
  }
  checker.stop();
  return got;
}

void print_replicas(const router::topology& t, router::clock::time_point now) {
  for (const auto& r : t.replicas) {
    std::cout << "  " << r.name << " (roles:";
    for (const auto& role : r.roles) std::cout << " " << role;
    std::cout << "): " << (router::eligible(t, r, now) ? "eligible" : "not eligible")
              << ", reachable=" << (r.sample.reachable ? "yes" : "no")
              << ", in_recovery=" << (r.sample.in_recovery ? "yes" : "no")
              << ", lag=" << router::lag_bytes(t, r) << " bytes (limit " << r.limits.max_bytes << ")"
              << ", delay=" << r.sample.replay_delay.count() << " ms (limit " << r.limits.max_time.count() << " ms)\n";
  }
}

}  // namespace

int explain_command(const std::string& config_path, std::string database, const std::string& sql) {
  auto loaded = conf::load_file(config_path);
  if (!loaded.ok()) {
    for (const auto& d : loaded.errors) std::cerr << d.to_string() << "\n";
    return 2;
  }
  auto cfg = std::make_shared<conf::config>(std::move(*loaded.cfg));
  if (database.empty()) database = cfg->databases.begin()->first;
  auto db = cfg->databases.find(database);
  if (db == cfg->databases.end()) {
    std::cerr << "pgrelay explain: no database \"" << database << "\" in " << config_path << "\n";
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);

  router::topology_ptr topo;
  if (db->second.routing.enabled && !db->second.replicas.empty()) topo = one_health_round(cfg, database);
  auto catalog = topo ? router::make_catalog(topo->volatile_functions, {}, {}) : router::builtin_functions();
  auto c = router::classify(sql, catalog);
  std::cout << "statement: " << router::to_string(c.kind) << " (" << c.statements << " statement"
            << (c.statements == 1 ? "" : "s") << ")\n";
  if (c.why != router::write_reason::none) std::cout << "not read-only because: " << router::to_string(c.why) << "\n";
  if (!c.function.empty()) std::cout << "writing function: " << c.function << "\n";
  if (c.begin) std::cout << "starts a transaction" << (c.begin_read_only ? " (read only)" : "") << "\n";
  if (!c.hint.empty()) std::cout << "hint: route=" << c.hint << "\n";

  const auto& routing = db->second.routing;
  router::routing_settings settings{routing.enabled, routing.read_your_writes,
                                    routing.fallback == conf::no_replica_fallback::primary};
  auto now = router::clock::now();
  auto d = router::route(c, router::session_view{}, topo.get(), settings, now, 0);
  if (topo) {
    std::cout << "primary: " << topo->primary_name << " (reachable=" << (topo->primary.reachable ? "yes" : "no")
              << ")\nreplicas:\n";
    print_replicas(*topo, now);
  }
  std::cout << "decision: " << (d.to_replica ? "replica " + d.replica : std::string("primary")) << " ("
            << router::to_string(d.reason) << ")\n";
  return 0;
}

}  // namespace pgrelay::proxy
