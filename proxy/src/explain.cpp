// The routing explanation uses the same pure functions as the data path, fed with one fresh
// health round, so what it prints is what a client would get.
#include "explain.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>

#include "health_checker.hpp"
#include "routing_inputs.hpp"
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

std::string replica_line(const router::topology& t, const router::replica_view& r, router::clock::time_point now) {
  std::string roles;
  for (const auto& role : r.roles) roles += " " + role;
  return "  " + r.name + " (roles:" + roles + "): " + (router::eligible(t, r, now) ? "eligible" : "not eligible") +
         ", reachable=" + (r.sample.reachable ? "yes" : "no") + ", in_recovery=" + (r.sample.in_recovery ? "yes" : "no") +
         ", lag=" + std::to_string(router::lag_bytes(t, r)) + " bytes (limit " + std::to_string(r.limits.max_bytes) +
         "), delay=" + std::to_string(r.sample.replay_delay.count()) + " ms (limit " +
         std::to_string(r.limits.max_time.count()) + " ms)";
}

std::string rule_text(const conf::routing_rule& r) {
  std::string out;
  if (!r.user.empty()) out += "user=" + r.user + " ";
  if (!r.application_name.empty()) out += "application_name=" + r.application_name + " ";
  if (r.kind == conf::rule_kind::statement) out += "kind=statement ";
  if (r.kind == conf::rule_kind::transaction) out += "kind=transaction ";
  return out + "route=" + r.route;
}

}  // namespace

std::vector<std::string> explain_route(const conf::database_config& db, const router::function_catalog& catalog,
                                       const router::topology* topo, const explain_client& client,
                                       std::string_view sql) {
  std::vector<std::string> out;
  auto c = router::classify(sql, catalog);
  out.push_back("statement: " + std::string(router::to_string(c.kind)) + " (" + std::to_string(c.statements) +
                " statement" + (c.statements == 1 ? "" : "s") + ")");
  if (c.why != router::write_reason::none) out.push_back("not read-only because: " + std::string(router::to_string(c.why)));
  if (!c.function.empty()) out.push_back("writing function: " + c.function);
  if (c.begin) out.push_back(std::string("starts a transaction") + (c.begin_read_only ? " (read only)" : ""));
  if (!c.hint.empty()) out.push_back("hint: route=" + c.hint);
  if (c.hint_max_lag) out.push_back("hint: max_lag=" + std::to_string(c.hint_max_lag->count()) + "ms");

  const auto rules = router_rules(db.routing);
  router::routing_settings settings{db.routing.enabled, db.routing.read_your_writes != conf::read_your_writes_scope::off,
                                    db.routing.fallback == conf::no_replica_fallback::primary, rules};
  auto now = router::clock::now();
  router::session_view view;
  view.user = client.user;
  view.application_name = client.application_name;
  auto d = router::route(c, view, topo, settings, now, 0);
  if (topo) {
    out.push_back("primary: " + topo->primary_name + " (reachable=" + (topo->primary.reachable ? "yes" : "no") + ")");
    out.push_back("replicas:");
    for (const auto& r : topo->replicas) out.push_back(replica_line(*topo, r, now));
  }
  if (d.rule >= 0) {
    out.push_back("rule " + std::to_string(d.rule) + " matched: " + rule_text(db.routing.rules[static_cast<std::size_t>(d.rule)]));
  } else if (!d.role.empty()) {
    out.push_back(std::string("no rule matched") + (c.hint.empty() ? "" : " (the hint decides)"));
  }
  if (!d.role.empty() && !d.to_replica && d.reason != router::route_reason::rule_primary) {
    out.push_back("reads wanted role: " + d.role);
  }
  if (d.reason == router::route_reason::no_eligible_replica_error) {
    out.push_back("decision: error 57P03 (no eligible replica; routing.fallback is error)");
  } else {
    out.push_back("decision: " + (d.to_replica ? "replica " + d.replica : std::string("primary")) + " (" +
                  std::string(router::to_string(d.reason)) + ")");
  }
  return out;
}

int explain_command(const std::string& config_path, std::string database, const explain_client& client,
                    const std::string& sql) {
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
  auto catalog = function_catalog_for(db->second, topo.get());
  for (const auto& line : explain_route(db->second, catalog, topo.get(), client, sql)) std::cout << line << "\n";
  return 0;
}

}  // namespace pgrelay::proxy
