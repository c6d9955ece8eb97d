#include "health_checker.hpp"
#include "health_connection.hpp"
#include "health_queries.hpp"
#include "position_prober.hpp"

#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <utility>
#include <vector>

namespace pgrelay::proxy {

namespace {

using namespace std::chrono_literals;
using router::clock;
using std::chrono::milliseconds;

constexpr unsigned rounds_per_function_refresh = 10;
constexpr milliseconds max_query_budget{2000};
constexpr milliseconds min_query_budget{500};


struct server {
  std::string name;  // "primary" or the replica's name
  conf::endpoint address;
  bool configured_primary = false;
  std::vector<std::string> roles;
  router::lag_limits limits;

  conn_ptr conn;
  router::server_sample sample;
  std::optional<bool> was_reachable;  // for logging transitions
  std::optional<bool> was_eligible;
};

std::string describe_lag(const router::topology& t, const router::replica_view& r,
                         clock::time_point now) {
  const auto& s = r.sample;
  std::string out;
  if (!s.reachable) return "unreachable";
  if (!s.in_recovery) return "not in recovery (promoted?)";
  const auto age = std::chrono::duration_cast<milliseconds>(now - s.sampled_at);
  if (age > 3 * t.check_interval) out += "sample " + std::to_string(age.count()) + "ms old; ";
  out += "lag " + std::to_string(router::lag_bytes(t, r)) + " bytes (limit " +
         std::to_string(r.limits.max_bytes) + "), replay delay " +
         std::to_string(s.replay_delay.count()) + "ms (limit " +
         std::to_string(r.limits.max_time.count()) + "ms)";
  return out;
}

}  // namespace

struct health_checker::database_state {
  std::string name;  // client-facing
  check_login login;
  milliseconds interval{1000};
  std::vector<server> servers;  // [0] is the configured primary
  clock::time_point next_due{};
  unsigned rounds = 0;
  std::vector<std::string> volatile_functions;
  std::string functions_fingerprint;  // of pg_proc when volatile_functions was read
  std::shared_ptr<router::live_positions> live;  // null for databases without replicas
  bool routed = true;  // false: only the risky-relation catalogue is read, from the primary
  // Relations whose use runs user code: the last set read, the oids it was read for, and the
  // catalogue fingerprint it was read at (empty: never read).
  std::shared_ptr<const router::risky_relations> risky;
  std::vector<std::pair<std::string, std::string>> risky_rows;
  std::vector<std::string> risky_oids;
  std::string hidden_fingerprint;
  std::shared_ptr<const router::risky_relations> fresh_risky;  // read by the last round, to publish
  router::wal_history history;
  milliseconds history_window{10000};  // > every replica's max_lag.time, see run()

  database_state(const conf::config& cfg, const std::string& db_name, const conf::database_config& db,
                 std::shared_ptr<router::live_positions> positions)
      : name(db_name),
        interval(std::max(db.routing.check_interval, milliseconds{1})),
        live(std::move(positions)),
        routed(db.routing.enabled) {
    login = check_login_for(cfg, db, std::clamp(interval, min_query_budget, max_query_budget));
    server primary;
    primary.name = "primary";
    primary.address = db.primary;
    primary.configured_primary = true;
    servers.push_back(std::move(primary));
    if (!routed) return;
    for (const auto& rep : db.replicas) {
      server s;
      s.name = rep.name;
      s.address = rep.address;
      s.roles = rep.roles;
      s.limits = router::lag_limits{.max_bytes = rep.max_lag.bytes, .max_time = rep.max_lag.time};
      history_window = std::max({history_window, 10 * interval, 4 * rep.max_lag.time});
      servers.push_back(std::move(s));
    }
  }

  std::string label(const server& s) const { return name + "/" + s.name; }

  void connect(server& s) { s.conn = open_check_connection(login, s.address, "pgrelay-health"); }

  // One sample of one server; on any failure the connection is dropped for the next round.
  void poll(server& s) {
    std::string error;
    if (!s.conn || PQstatus(s.conn.get()) != CONNECTION_OK) {
      connect(s);
      if (!s.conn || PQstatus(s.conn.get()) != CONNECTION_OK) {
        error = s.conn ? trimmed(PQerrorMessage(s.conn.get())) : "out of memory";
        s.conn.reset();
      }
    }
    result_ptr res;
    const auto asked_at = clock::now();
    if (s.conn) {
      res = run_query(s.conn.get(), sample_sql, asked_at + login.budget, error);
      if (!res) s.conn.reset();
    }
    s.sample.name = s.name;
    s.sample.sampled_at = clock::now();
    if (res && PQntuples(res.get()) == 1 && PQnfields(res.get()) == 4) {
      const auto text = [&](int col) -> std::string_view {
        if (PQgetisnull(res.get(), 0, col) != 0) return {};
        return PQgetvalue(res.get(), 0, col);
      };
      s.sample.reachable = true;
      s.sample.in_recovery = text(0) == "t";
      // NULL (no WAL received by streaming yet) reads as 0: no basis to call the replica current.
      s.sample.receive_lsn = router::parse_lsn(text(1)).value_or(0);
      s.sample.replay_lsn = router::parse_lsn(text(2)).value_or(0);
      // The insert position, not the write position: with synchronous_commit off a commit
      // record may still sit in WAL buffers past pg_current_wal_lsn().
      s.sample.insert_lsn = router::parse_lsn(text(3)).value_or(0);
      s.sample.asked_at = asked_at;
      s.sample.replay_delay = milliseconds{0};  // set from the history once the round is in
    } else {
      if (res && error.empty()) error = "unexpected result shape";
      // Keep the last known positions: an unreachable primary stays the lag reference.
      s.sample.reachable = false;
    }
    if (s.was_reachable != s.sample.reachable) {
      if (s.sample.reachable) {
        spdlog::info("health: {} at {} is reachable ({})", label(s), s.address.to_string(),
                     s.sample.in_recovery ? "in recovery" : "not in recovery");
      } else {
        spdlog::warn("health: {} at {} is unreachable: {}", label(s), s.address.to_string(),
                     error);
      }
      s.was_reachable = s.sample.reachable;
    }
  }

  // The cheap check of every round: true when pg_proc changed since the functions were read (or
  // could not be checked: then the next full read decides).
  bool functions_changed(server& primary) {
    if (!primary.conn) return false;
    std::string error;
    auto res = run_query(primary.conn.get(), functions_fingerprint_sql, clock::now() + login.budget, error);
    if (!res || PQntuples(res.get()) != 1) {
      primary.conn.reset();
      spdlog::warn("health: could not check the functions of {}: {}", label(primary), error);
      return false;
    }
    std::string fp = PQgetvalue(res.get(), 0, 0);
    if (fp == functions_fingerprint) return false;
    functions_fingerprint = std::move(fp);
    return true;
  }

  void refresh_volatile_functions(server& primary) {
    if (!primary.conn) return;
    std::string error;
    auto res = run_query(primary.conn.get(), volatile_functions_sql, clock::now() + login.budget, error);
    if (!res) {
      primary.conn.reset();
      spdlog::warn("health: could not read volatile functions from {}: {}", label(primary),
                   error);
      return;
    }
    std::vector<std::string> names;
    const int rows = PQntuples(res.get());
    names.reserve(static_cast<std::size_t>(rows));
    for (int i = 0; i < rows; ++i) names.emplace_back(PQgetvalue(res.get(), i, 0));
    volatile_functions = std::move(names);
  }

  // Reads the fingerprint every round and the set when it changed; returns the set to publish
  // when it is new. On failure the previous set stays (the connection is dropped and retried).
  std::shared_ptr<const router::risky_relations> refresh_hidden_code(server& primary) {
    if (!primary.conn) return nullptr;
    std::string error;
    auto fp = run_query(primary.conn.get(), hidden_code_fingerprint_sql(risky_oids).c_str(), clock::now() + login.budget,
                        error);
    if (!fp || PQntuples(fp.get()) != 1) {
      primary.conn.reset();
      spdlog::warn("health: could not read the trigger/policy/view catalogue of {}: {}", label(primary), error);
      return nullptr;
    }
    std::string fingerprint = PQgetvalue(fp.get(), 0, 0);
    if (risky && fingerprint == hidden_fingerprint) return nullptr;
    auto res = run_query(primary.conn.get(), risky_relations_sql, clock::now() + login.budget, error);
    if (!res || PQnfields(res.get()) != 3) {
      primary.conn.reset();
      spdlog::warn("health: could not read the relations that run user code from {}: {}", label(primary), error);
      return nullptr;
    }
    std::vector<std::pair<std::string, std::string>> rows;
    std::vector<std::string> oids;
    for (int i = 0; i < PQntuples(res.get()); ++i) {
      oids.emplace_back(PQgetvalue(res.get(), i, 0));
      rows.emplace_back(PQgetvalue(res.get(), i, 1), PQgetvalue(res.get(), i, 2));
    }
    auto names = run_query(primary.conn.get(), custom_settings_sql, clock::now() + login.budget, error);
    if (!names) {
      primary.conn.reset();
      spdlog::warn("health: could not read the custom settings functions set from {}: {}", label(primary), error);
      return nullptr;
    }
    std::vector<std::string> settings;
    for (int i = 0; i < PQntuples(names.get()); ++i) settings.emplace_back(PQgetvalue(names.get(), i, 0));
    // The fingerprint the set was read at must cover the relations it holds now.
    const bool first = !risky;
    hidden_fingerprint = oids == risky_oids ? fingerprint : std::string("?");
    risky_oids = std::move(oids);
    if (!first && rows == risky_rows && settings == risky->custom_settings) return nullptr;
    log_risky_change(rows);
    static std::atomic<std::uint64_t> versions{1};
    risky = std::make_shared<const router::risky_relations>(
        router::make_risky_relations(rows, versions.fetch_add(1, std::memory_order_relaxed), std::move(settings)));
    risky_rows = std::move(rows);
    return risky;
  }

  // One line per change, naming what came and went (bounded): operators see why statements on a
  // table start costing a probe, and tests see when pgrelay learned of a new trigger.
  void log_risky_change(const std::vector<std::pair<std::string, std::string>>& rows) const {
    std::string change;
    std::size_t listed = 0;
    auto note = [&](char sign, const std::pair<std::string, std::string>& r) {
      if (listed++ < 20) change += std::string(change.empty() ? "" : ", ") + sign + r.first + "." + r.second;
    };
    for (const auto& r : rows) {
      if (std::find(risky_rows.begin(), risky_rows.end(), r) == risky_rows.end()) note('+', r);
    }
    for (const auto& r : risky_rows) {
      if (std::find(rows.begin(), rows.end(), r) == rows.end()) note('-', r);
    }
    if (listed > 20) change += ", …";
    spdlog::info("health: {}: {} relation(s) run user code (triggers, policies, views, defaults): {}", name,
                 rows.size(), change.empty() ? std::string("none") : change);
  }

  // A database that is not routed: only its primary, only for the risky-relation catalogue.
  std::shared_ptr<const router::risky_relations> catalogue_round() {
    auto& primary = servers[0];
    if (!primary.conn || PQstatus(primary.conn.get()) != CONNECTION_OK) {
      connect(primary);
      if (!primary.conn || PQstatus(primary.conn.get()) != CONNECTION_OK) {
        if (primary.was_reachable != false) {
          spdlog::warn("health: {} at {}: cannot read its catalogue: {}", label(primary), primary.address.to_string(),
                       primary.conn ? trimmed(PQerrorMessage(primary.conn.get())) : "out of memory");
        }
        primary.was_reachable = false;
        primary.conn.reset();
        return nullptr;
      }
      primary.was_reachable = true;
    }
    return refresh_hidden_code(primary);
  }

  // Index of the acting primary: the configured one unless it reports being a standby while
  // a replica reports that it is not.
  std::size_t acting_primary() const {
    const auto& configured = servers[0].sample;
    if (!(configured.reachable && configured.in_recovery)) return 0;
    for (std::size_t i = 1; i < servers.size(); ++i) {
      if (servers[i].sample.reachable && !servers[i].sample.in_recovery) return i;
    }
    return 0;
  }

  router::topology_ptr round(const std::function<bool()>& stopping, bool functions_stale) {
    for (auto& s : servers) {
      if (stopping()) return nullptr;
      poll(s);
    }
    const std::size_t acting = acting_primary();
    if (functions_changed(servers[acting]) || functions_stale || rounds % rounds_per_function_refresh == 0) {
      refresh_volatile_functions(servers[acting]);
    }
    fresh_risky = refresh_hidden_code(servers[acting]);
    ++rounds;
    measure_replay_delays(acting);
    auto t = make_topology(acting);
    log_primary_change(*t, acting);
    log_eligibility_changes(*t);
    return t;
  }

  // Replay delays, measured on the checker's clock against the acting primary's history.
  void measure_replay_delays(std::size_t acting) {
    const auto& head = servers[acting].sample;
    if (head.reachable) history.record(head.sampled_at, head.replay_lsn);
    history.forget_before(head.sampled_at - history_window);
    remember_mark(acting, head);
    for (std::size_t i = 0; i < servers.size(); ++i) {
      auto& s = servers[i].sample;
      if (i != acting && s.reachable && s.in_recovery) {
        s.replay_delay = history.behind_for(s.replay_lsn, s.sampled_at);
      }
    }
  }

  std::shared_ptr<router::topology> make_topology(std::size_t acting) const {
    auto t = std::make_shared<router::topology>();
    t->database = name;
    t->check_interval = interval;
    t->primary = servers[acting].sample;
    t->primary_name = servers[acting].name;
    t->volatile_functions = volatile_functions;
    t->primary_marks = marks;
    t->live = live;
    for (std::size_t i = 1; i < servers.size(); ++i) {
      if (i == acting) continue;
      const auto& s = servers[i];
      t->replicas.push_back(
          router::replica_view{.name = s.name, .server_index = i, .roles = s.roles, .limits = s.limits,
                               .sample = s.sample});
    }
    return t;
  }

  void log_primary_change(const router::topology& t, std::size_t acting) {
    if (acting != 0 && t.primary_name != last_primary_name) {
      spdlog::warn("health: {}: configured primary is in recovery; {} is acting primary", name,
                   t.primary_name);
    } else if (acting == 0 && last_primary_name != "primary" && !last_primary_name.empty()) {
      spdlog::info("health: {}: the configured primary acts as primary again", name);
    }
    last_primary_name = t.primary_name;
  }

  // One line when a replica becomes eligible for reads or stops being so, with why.
  void log_eligibility_changes(const router::topology& t) {
    const auto now = clock::now();
    for (const auto& r : t.replicas) {
      auto& s = *std::find_if(servers.begin(), servers.end(), [&](const server& x) {
        return x.name == r.name && !x.configured_primary;
      });
      const bool ok = router::eligible(t, r, now);
      if (s.was_eligible == ok) continue;
      if (ok) {
        spdlog::info("health: replica {} is eligible for reads: {}", label(s), describe_lag(t, r, now));
      } else {
        spdlog::warn("health: replica {} is not eligible for reads: {}", label(s), describe_lag(t, r, now));
      }
      s.was_eligible = ok;
    }
  }

  std::string last_primary_name;

  // Read-your-writes marks of the acting primary, oldest first. A few suffice: a session asks for
  // the first one after its write, and a write older than them all takes the oldest.
  static constexpr std::size_t kept_marks = 8;
  std::vector<router::primary_mark> marks;
  std::size_t marks_from = 0;  // which server the marks were taken on

  void remember_mark(std::size_t acting, const router::server_sample& head) {
    // Positions of another server (after a failover) say nothing about what replicas of this
    // one replayed.
    if (acting != marks_from) marks.clear();
    marks_from = acting;
    if (!head.reachable || head.in_recovery || head.insert_lsn == 0) return;
    marks.push_back({head.asked_at, head.insert_lsn});
    if (marks.size() > kept_marks) marks.erase(marks.begin());
  }
};

health_checker::health_checker(std::shared_ptr<const conf::config> cfg, publish_fn publish,
                               publish_relations_fn publish_relations)
    : cfg_(std::move(cfg)), publish_(std::move(publish)), publish_relations_(std::move(publish_relations)) {
  for (const auto& [name, db] : cfg_->databases) {
    if (!db.routing.enabled || db.replicas.empty()) continue;
    std::vector<conf::endpoint> servers{db.primary};
    for (const auto& rep : db.replicas) servers.push_back(rep.address);
    auto live = std::make_shared<router::live_positions>(servers.size());
    live_[name] = live;
    const auto budget = std::clamp(std::max(db.routing.check_interval, milliseconds{1}), min_query_budget, max_query_budget);
    probers_.push_back(std::make_unique<position_prober>(name, check_login_for(*cfg_, db, budget), std::move(servers),
                                                         std::move(live)));
  }
}

void health_checker::functions_may_have_changed() {
  {
    std::lock_guard lock{mutex_};
    functions_stale_.store(true, std::memory_order_relaxed);
  }
  wake_.notify_all();
}

void health_checker::publish_risky(const std::string& db, std::shared_ptr<const router::risky_relations> risky) {
  if (!risky || !publish_relations_) return;
  try {
    publish_relations_(db, std::move(risky));
  } catch (const std::exception& e) {
    spdlog::error("health: publishing the risky relations of {} failed: {}", db, e.what());
  }
}

health_checker::~health_checker() { stop(); }

void health_checker::start() {
  std::lock_guard lock{mutex_};
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { run(); });
  for (auto& p : probers_) p->start();
}

void health_checker::stop() {
  {
    std::lock_guard lock{mutex_};
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& p : probers_) p->stop();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

bool health_checker::stopping() const {
  std::lock_guard lock{mutex_};
  return stop_;
}

router::topology_ptr health_checker::snapshot(const std::string& db) const {
  std::lock_guard lock{mutex_};
  const auto it = latest_.find(db);
  return it == latest_.end() ? nullptr : it->second;
}

void health_checker::run() {
  std::vector<database_state> dbs;
  for (const auto& [name, db] : cfg_->databases) {
    const auto it = live_.find(name);
    dbs.emplace_back(*cfg_, name, db, it == live_.end() ? nullptr : it->second);
  }
  spdlog::info("health: checking {} database(s); reading the catalogue of {}",
               std::count_if(dbs.begin(), dbs.end(), [](const database_state& d) { return d.routed; }), dbs.size());
  const std::function<bool()> is_stopping = [this] { return stopping(); };
  while (!stopping()) {
    const bool functions_stale = functions_stale_.exchange(false, std::memory_order_relaxed);
    for (auto& db : dbs) {
      if (!check(db, functions_stale, is_stopping)) break;  // stopping
    }
    wait_until_due(dbs);
  }
}

bool health_checker::check(database_state& db, bool functions_stale, const std::function<bool()>& is_stopping) {
  const auto started = clock::now();
  if (started < db.next_due && !functions_stale) return true;
  if (!db.routed) {
    db.next_due = started + db.interval;
    publish_risky(db.name, db.catalogue_round());
    return true;
  }
  auto topo = db.round(is_stopping, functions_stale);
  db.next_due = started + db.interval;
  if (!topo) return false;
  publish_risky(db.name, std::exchange(db.fresh_risky, nullptr));
  publish_topology(db.name, std::move(topo));
  return true;
}

void health_checker::publish_topology(const std::string& db, router::topology_ptr topo) {
  {
    std::lock_guard lock{mutex_};
    latest_[db] = topo;
  }
  try {
    if (publish_) publish_(std::move(topo));
  } catch (const std::exception& e) {
    spdlog::error("health: publishing the topology of {} failed: {}", db, e.what());
  }
}

// Until the next database is due (at most a second), stop() or functions_may_have_changed().
void health_checker::wait_until_due(const std::vector<database_state>& dbs) {
  auto wake_at = clock::now() + 1s;
  for (const auto& db : dbs) wake_at = std::min(wake_at, db.next_due);
  std::unique_lock lock{mutex_};
  wake_.wait_until(lock, wake_at, [this] { return stop_ || functions_stale_.load(std::memory_order_relaxed); });
}

}  // namespace pgrelay::proxy
