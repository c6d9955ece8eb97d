// Pool checkout, return and upkeep. Only this file moves servers between idle, lent and closed.
#include "pool.hpp"

#include <spdlog/spdlog.h>

#include "pgrelay/protocol/errors.hpp"

namespace pgrelay::proxy {

namespace pr = pgrelay::protocol;

pool::pool(io_executor ex, std::string database, std::string user, conf::pool_settings settings,
           server_target target, std::shared_ptr<pool_budget> budget, bool multi_worker)
    : ex_(std::move(ex)),
      database_(std::move(database)),
      user_(std::move(user)),
      settings_(settings),
      target_(std::move(target)),
      budget_(std::move(budget)),
      multi_worker_(multi_worker) {
  update_settings(settings_);
}

void pool::update_settings(const conf::pool_settings& s) {
  settings_ = s;
  // In session mode a checkout lasts a whole client session: no latency signal, so `auto` is
  // simply max_size there.
  if (!s.size_auto || s.mode != conf::pool_mode::transaction) {
    limit_.reset();
  } else if (!limit_ || limit_->settings().max != s.max_size) {
    core::concurrency_limit_settings ls;
    ls.max = s.max_size;
    limit_.emplace(ls, clock::now());
  }
  grant_slots();
}

acquire_result pool::lend(acquire_result r) {
  if (r.server) note_lent(*r.server);
  return r;
}

void pool::note_lent(server_connection& server) {
  ++active_;
  server.lent(clock::now());
}

void pool::sample_transaction(const server_connection& server) {
  auto now = clock::now();
  auto before = limit_->limit();
  limit_->on_complete(now, now - server.lent_at(), active_, !waiters_.empty());
  if (limit_->limit() != before) {
    const auto& r = limit_->last();
    spdlog::debug("pool {}/{} to {}: limit {} -> {} (latency {:.0f}us, baseline {:.0f}us, {:.1f} in flight, "
                  "{:.0f} tps)", database_, user_, target_.address.to_string(), before, limit_->limit(),
                  r.latency_ns / 1e3, r.baseline_ns / 1e3, r.in_flight, r.throughput);
  }
}

void pool::grant_slots() {
  if (!limit_) return;
  for (auto& w : waiters_) {
    if (!below_limit()) return;
    if (w.handed || w.may_open) continue;
    w.may_open = true;  // it takes an idle server first, else opens one within the budget
    ++promised_;
    wake(w);
  }
}

std::unique_ptr<server_connection> pool::take_idle() {
  while (!idle_.empty()) {
    auto s = std::move(idle_.back());
    idle_.pop_back();
    if (!s->looks_dead()) return s;
    spdlog::info("server {} to {} found dead at checkout; replacing it", s->id(), s->address().to_string());
    discard(std::move(s));
  }
  return nullptr;
}

bool pool::take_slot() {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!budget_->try_take_server(settings_.cap())) return false;
    last_refusal_ = core::take_connection(*limits_.database, limits_.database_max, *limits_.user, limits_.user_max);
    limit_blocked_ = last_refusal_ != core::limit_verdict::granted;
    if (!limit_blocked_) return true;
    budget_->give_back_server();
    // A sibling pool's idle server holds the slot while this pool's clients wait: free it once.
    if (attempt == 0 && !(evictor_ && evictor_(*this))) return false;
  }
  return false;
}

void pool::give_back_slot() {
  budget_->give_back_server();
  core::give_back_connection(*limits_.database, *limits_.user);
}

bool pool::close_one_idle() {
  if (idle_.empty()) return false;
  auto s = std::move(idle_.front());
  idle_.pop_front();
  discard(std::move(s));
  return true;
}

void pool::keep_idle(std::unique_ptr<server_connection> server) {
  server->watch_idle();
  idle_.push_back(std::move(server));
}

void pool::discard(std::unique_ptr<server_connection> server) {
  server->close();
  give_back_slot();
  wake_one_for_slot();
}

void pool::give_back_to_starving() {
  // A starving worker re-checks the shared budget every 5 ms, but this worker frees a slot only
  // when one of its servers is released, which never happens once its own clients are quiet:
  // its idle servers would hold the slots until server_idle_timeout. The least recently used
  // goes first, one per starving pool and tick.
  auto starving = budget_->starving.load(std::memory_order_relaxed);
  for (; starving > 0 && !idle_.empty(); --starving) {
    auto server = std::move(idle_.front());
    idle_.pop_front();
    spdlog::debug("pool {}/{}: giving server {} back for another worker", database_, user_, server->id());
    discard(std::move(server));
  }
}

void pool::wake_one_for_slot() {
  if (!below_limit()) return;
  for (auto& w : waiters_) {
    if (!w.handed && !w.may_open) {
      w.may_open = true;
      ++promised_;
      wake(w);
      return;
    }
  }
}

awaitable<acquire_result> pool::open_new() {
  auto server = std::make_unique<server_connection>(ex_);
  server->identify(next_id_++, generation_);
  ++active_;
  auto err = co_await server->open(target_, settings_.connect_timeout);
  --active_;
  if (err) {
    give_back_slot();
    wake_one_for_slot();
    spdlog::warn("could not open server connection for {}/{}: {}", database_, user_, err.message);
    co_return acquire_result{nullptr, err};
  }
  co_return acquire_result{std::move(server), {}};
}

std::unique_ptr<server_connection> pool::take_now() {
  if (stopped_ || !waiters_.empty() || !below_limit()) return nullptr;
  auto server = take_idle();
  if (server) note_lent(*server);
  return server;
}

awaitable<acquire_result> pool::acquire() {
  if (stopped_) co_return acquire_result{nullptr, {std::string(pr::sqlstate::admin_shutdown), "pgrelay is shutting down"}};
  // wait_timeout 0 means wait for as long as it takes.
  auto deadline = settings_.wait_timeout.count() > 0 ? clock::now() + settings_.wait_timeout : clock::time_point::max();
  bool counted_starving = false;
  struct starving_guard {
    pool_budget& b;
    bool& on;
    ~starving_guard() {
      if (on) b.starving.fetch_sub(1);
    }
  } guard{*budget_, counted_starving};
  limit_wait waiting_on;  // the limit this acquire counts itself waiting for, once blocked on one

  for (;;) {
    if (auto s = take_now()) co_return acquire_result{std::move(s), {}};
    if (waiters_.empty() && below_limit() && take_slot()) {
      co_return lend(co_await open_new());
    }
    if (multi_worker_ && !counted_starving && active_ == 0 && idle_.empty()) {
      counted_starving = true;
      budget_->starving.fetch_add(1);
    }
    waiter w;
    w.since = clock::now();
    // Across workers a freed slot is not signalled: re-check periodically while starving.
    w.wake_at = deadline;
    if (limit_blocked_) waiting_on.join(refusing_limit());
    // Nor is a database or user slot freed by another pool: re-check those too.
    if (multi_worker_ || limit_blocked_) w.wake_at = std::min(deadline, w.since + millis(5));
    co_await asio::async_initiate<const use_awaitable_t&, void()>(
        [this, &w](wake_handler handler) { enqueue(w, std::move(handler)); }, use_awaitable);
    w.unlink();
    if (w.handed || w.may_open) --promised_;
    if (w.handed) co_return lend({std::move(w.handed), {}});
    if (below_limit()) {
      // size: auto keeps servers above a lowered limit idle: reuse one before opening another.
      if (limit_) {
        if (auto s = take_idle()) co_return lend({std::move(s), {}});
      }
      if (w.may_open && take_slot()) co_return lend(co_await open_new());
      if (auto s = take_idle()) co_return lend({std::move(s), {}});
      if (take_slot()) co_return lend(co_await open_new());
    }
    if (clock::now() >= deadline || stopped_) co_return gave_up();
  }
}

acquire_result pool::gave_up() const {
  if (limit_blocked_ && !stopped_) {
    const auto max = last_refusal_ == core::limit_verdict::database_full ? limits_.database_max : limits_.user_max;
    return {nullptr, {std::string(pr::sqlstate::too_many_connections),
                      core::limit_message(last_refusal_, database_, user_, max)}};
  }
  return {nullptr, {std::string(pr::sqlstate::too_many_connections),
                    "no server connection available for " + database_ + "/" + user_ + " within wait_timeout"}};
}

void pool::release(std::unique_ptr<server_connection> server, bool clean) {
  if (limit_) sample_transaction(*server);
  auto action = core::decide_release(clean, server->cancels()->guard);
  if (action == core::release_action::hold && !stopped_) {
    // Still counted as active: the slot is not free until the cancel has landed.
    asio::co_spawn(ex_, hold_for_cancels(std::move(server)), asio::detached);
    return;
  }
  settle(std::move(server), action == core::release_action::reuse);
}

awaitable<void> pool::hold_for_cancels(std::unique_ptr<server_connection> server) {
  // Waiting costs the few milliseconds until the postmaster closes the cancel connection;
  // closing instead would make every cancel that did its job cost a new server login.
  auto watch = server->cancels();
  asio::steady_timer timer(ex_, cancel_delivery_bound);
  watch->on_settled = [&timer] { timer.cancel(); };
  struct unhook {
    cancel_watch& w;
    ~unhook() { w.on_settled = nullptr; }
  } guard{*watch};
  while (watch->guard.in_flight() > 0 && clock::now() < timer.expiry()) co_await timer.async_wait(use_tuple);
  if (!watch->guard.may_hand_on()) {
    spdlog::info("server {} to {}: a cancel for it was not confirmed within {} ms; closing it", server->id(),
                 server->address().to_string(), cancel_delivery_bound.count());
  }
  settle(std::move(server), watch->guard.may_hand_on());
}

void pool::settle(std::unique_ptr<server_connection> server, bool clean) {
  if (active_ > 0) --active_;
  const auto now = clock::now();
  server->returned(now);
  bool expired = (settings_.server_lifetime.count() > 0 && now - server->created() >= settings_.server_lifetime) ||
                 (settings_.server_max_uses > 0 && server->uses() >= settings_.server_max_uses) ||
                 server->generation() != generation_ ||
                 budget_->servers.load(std::memory_order_relaxed) > settings_.cap();  // shrunk by a reload
  if (!clean || server->broken() || !server->tracker().quiet() || stopped_ || expired) {
    discard(std::move(server));
  } else if (hand_to_waiter(server)) {
    // handed on
  } else if (multi_worker_ && budget_->starving.load(std::memory_order_relaxed) > 0) {
    // Another worker is starved of slots this worker holds: give one back instead of idling it.
    discard(std::move(server));
  } else if (limit_contended()) {
    // Another pool waits for a database or user slot this idle server would hold.
    discard(std::move(server));
  } else {
    keep_idle(std::move(server));
  }
  grant_slots();
}

bool pool::hand_to_waiter(std::unique_ptr<server_connection>& server) {
  if (!below_limit()) return false;
  for (auto& w : waiters_) {
    if (!w.handed && !w.may_open) {
      w.handed = std::move(server);
      ++promised_;
      wake(w);
      return true;
    }
  }
  return false;
}

clock::duration pool::oldest_wait(clock::time_point now) const {
  return waiters_.empty() ? clock::duration{0} : now - waiters_.front().since;
}

void pool::close_idle() {
  while (!idle_.empty()) {
    auto s = std::move(idle_.back());
    idle_.pop_back();
    discard(std::move(s));
  }
}

void pool::update_target(server_target t) {
  const auto& a = target_;
  auto tls_key = [](const server_target& x) {
    return x.tls ? std::string(conf::to_string(x.tls->server_mode)) : std::string("disable");
  };
  if (a.address.to_string() == t.address.to_string() && a.database == t.database && a.user == t.user &&
      a.password == t.password && tls_key(a) == tls_key(t)) {
    // Same server, role and mode: keep the connections; new ones use the reloaded CA and
    // settings, and the latest pass-through keys (a changed password does not end sessions in
    // Postgres either).
    target_.tls = std::move(t.tls);
    target_.allow_password_without_tls = t.allow_password_without_tls;
    target_.passthrough = std::move(t.passthrough);
    target_.passthrough_source = std::move(t.passthrough_source);
    return;
  }
  spdlog::info("pool {}/{}: server changed to {}; replacing its connections as they come back", database_, user_,
               t.address.to_string());
  target_ = std::move(t);
  ++generation_;
  close_idle();
}

awaitable<void> pool::maintain() {
  asio::steady_timer timer(ex_);
  // size: auto wakes every 100 ms so the limit notices a pool where nothing completes, and a
  // pool shared by workers so that another worker waiting for a slot gets it soon; the upkeep
  // below still runs once a second.
  std::uint32_t ticks = 0;
  while (!stopped_) {
    bool often = limit_ || multi_worker_ || limits_.database_max != 0 || limits_.user_max != 0;
    timer.expires_after(millis(often ? 100 : 1000));
    co_await timer.async_wait(use_tuple);
    if (stopped_) break;
    if (limit_) {
      limit_->on_tick(clock::now(), !waiters_.empty());
      grant_slots();
    }
    if (multi_worker_) give_back_to_starving();
    while (limit_contended() && close_one_idle()) {
    }
    if (often && ++ticks % 10 != 0) continue;
    auto now = clock::now();
    for (auto it = idle_.begin(); it != idle_.end();) {
      auto& s = *it;
      bool idle_too_long = settings_.server_idle_timeout.count() > 0 &&
                           now - s->last_used() >= settings_.server_idle_timeout &&
                           idle_.size() > settings_.min_idle;
      bool too_old = settings_.server_lifetime.count() > 0 && now - s->created() >= settings_.server_lifetime;
      if (idle_too_long || too_old || s->looks_dead()) {
        auto dead = std::move(s);
        it = idle_.erase(it);
        discard(std::move(dead));
      } else {
        ++it;
      }
    }
    // A pass-through pool warms up only once a client gave it keys.
    const bool can_open = !target_.needs_keys || target_.passthrough;
    while (can_open && idle_.size() < settings_.min_idle && waiters_.empty() && take_slot()) {
      auto r = co_await open_new();
      if (!r.server) break;
      keep_idle(std::move(r.server));
    }
  }
}

void pool::stop() {
  stopped_ = true;
  while (!idle_.empty()) {
    auto s = std::move(idle_.back());
    idle_.pop_back();
    discard(std::move(s));
  }
  for (auto& w : waiters_) wake(w);
  wait_timer_.reset();
  wait_timer_armed_ = false;
}

std::shared_ptr<const core::param_map> pool::shared_settings(const core::param_map& wanted) {
  if (wanted.empty()) return nullptr;  // the ledger's own empty set
  if (auto it = startup_sets_.find(wanted); it != startup_sets_.end()) return it->second;
  // Bounded like validated_status_: clients that each send a unique application_name must not
  // grow it forever (their sessions keep their copies).
  if (startup_sets_.size() >= 1024) startup_sets_.clear();
  auto shared = std::make_shared<const core::param_map>(wanted);
  startup_sets_.emplace(wanted, shared);
  return shared;
}

}  // namespace pgrelay::proxy
