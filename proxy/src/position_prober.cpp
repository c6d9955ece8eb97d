// See position_prober.hpp.
#include "position_prober.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace pgrelay::proxy {

namespace {

using namespace std::chrono_literals;
using router::clock;

// The prober's own marker, so that statement logs tell its queries from a client's.
constexpr const char* primary_sql = "SELECT pg_current_wal_insert_lsn()::text /* pgrelay-probe */";
constexpr const char* replica_sql = "SELECT pg_last_wal_replay_lsn()::text /* pgrelay-probe */";
// How long one wake-up keeps polling replicas that have not replayed the last write: a replica
// slower than this is left to the health rounds (reads go to the primary meanwhile).
constexpr auto poll_budget = 50ms;
constexpr auto first_poll_gap = 200us;
constexpr auto max_poll_gap = 5ms;
constexpr auto reconnect_after = 1s;

}  // namespace

position_prober::position_prober(std::string database, check_login login, std::vector<conf::endpoint> servers,
                                 std::shared_ptr<router::live_positions> live)
    : database_(std::move(database)), login_(std::move(login)), live_(std::move(live)) {
  for (auto& s : servers) links_.push_back(link{std::move(s), nullptr, {}});
}

position_prober::~position_prober() { stop(); }

void position_prober::start() {
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { run(); });
}

void position_prober::stop() {
  stop_.store(true);
  live_->wake.store(true);
  live_->wake.notify_all();
  if (thread_.joinable()) thread_.join();
}

void position_prober::run() {
  while (!stop_.load()) {
    live_->wake.wait(false);
    if (stop_.load()) break;
    cycle();
  }
}

void position_prober::cycle() {
  const auto started = clock::now();
  auto gap = clock::duration(first_poll_gap);
  while (!stop_.load()) {
    // Cleared before asking: a write that finishes after this line sets it again, and one that
    // finished before is covered by the position asked next.
    live_->wake.store(false);
    if (live_->write_at.load(std::memory_order_acquire) > live_->mark_asked_at.load(std::memory_order_relaxed)) {
      if (!probe_primary()) return;  // no primary position: reads in scope stay on the primary
    }
    const auto target = std::max(live_->mark_lsn.load(std::memory_order_relaxed), live_->wanted.load());
    const bool behind = poll_replicas(target);
    const bool asked = live_->wake.load();
    if ((!behind && !asked) || clock::now() - started > poll_budget) return;
    // Replicas are asked again after a pause that grows while nobody new asks.
    std::this_thread::sleep_for(asked ? clock::duration(first_poll_gap) : gap);
    gap = std::min<clock::duration>(gap * 2, max_poll_gap);
  }
}

bool position_prober::probe_primary() {
  const auto asked_at = clock::now();
  auto pos = ask(links_[0], primary_sql);
  if (!pos) return false;
  router::atomic_max(live_->mark_lsn, *pos);
  router::atomic_max(live_->mark_asked_at, router::ticks(asked_at));
  return true;
}

bool position_prober::poll_replicas(router::lsn target) {
  bool behind = false;
  for (std::size_t i = 1; i < links_.size() && !stop_.load(); ++i) {
    if (live_->replayed(i) >= target) continue;
    auto pos = ask(links_[i], replica_sql);
    if (!pos) continue;  // unreachable or not a standby: the health rounds judge it
    router::atomic_max(live_->replay[i], *pos);
    if (*pos < target) behind = true;
  }
  return behind;
}

PGconn* position_prober::connection(link& l) {
  if (l.conn && PQstatus(l.conn.get()) == CONNECTION_OK) return l.conn.get();
  const auto now = clock::now();
  if (now < l.retry_at) return nullptr;
  l.conn = open_check_connection(login_, l.address, "pgrelay-probe");
  if (!l.conn || PQstatus(l.conn.get()) != CONNECTION_OK) {
    spdlog::debug("probe: {} at {}: {}", database_, l.address.to_string(),
                  l.conn ? trimmed(PQerrorMessage(l.conn.get())) : std::string("out of memory"));
    l.conn.reset();
    l.retry_at = now + reconnect_after;
    return nullptr;
  }
  return l.conn.get();
}

std::optional<router::lsn> position_prober::ask(link& l, const char* sql) {
  if (clock::now() < l.retry_at) return std::nullopt;
  auto* c = connection(l);
  if (!c) return std::nullopt;
  std::string error;
  auto res = run_query(c, sql, clock::now() + login_.budget, error);
  std::optional<router::lsn> pos;
  if (res && PQntuples(res.get()) == 1 && PQgetisnull(res.get(), 0, 0) == 0) {
    pos = router::parse_lsn(PQgetvalue(res.get(), 0, 0));
  }
  if (!res) {
    // A failed or timed-out query leaves the connection in an unknown state; a standby answers
    // the primary's question with an error. Either way: a new connection, a second later.
    l.conn.reset();
    l.retry_at = clock::now() + reconnect_after;
    spdlog::debug("probe: {} at {}: {}", database_, l.address.to_string(), error);
  }
  return pos;
}

}  // namespace pgrelay::proxy
