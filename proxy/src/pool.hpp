// A pool of server connections for one (database, user) on one worker. Idle servers are kept
// LIFO so the warmest is reused; waiters are served FIFO, each bounded by the wait timeout.
// Server slots are counted in a budget shared by all workers, so `size` holds process-wide.
// With `size: auto` a core::concurrency_limit also caps how many servers this worker lends at once.
#pragma once

#include <atomic>
#include <boost/intrusive/list.hpp>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "net.hpp"
#include "pgrelay/conf/config.hpp"

#include "pgrelay/core/concurrency_limit.hpp"
#include "pgrelay/core/connection_limits.hpp"
#include "pgrelay/core/session_params.hpp"
#include "server_connection.hpp"

namespace pgrelay::proxy {

// Process-wide counts for one (database, user), shared by the workers' pools.
struct pool_budget {
  std::atomic<std::uint32_t> servers{0};
  std::atomic<std::uint32_t> clients{0};
  std::atomic<std::uint32_t> starving{0};  // workers waiting for a slot another worker holds

  bool try_take_server(std::uint32_t max) {
    auto cur = servers.load(std::memory_order_relaxed);
    while (cur < max) {
      if (servers.compare_exchange_weak(cur, cur + 1)) return true;
    }
    return false;
  }
  void give_back_server() { servers.fetch_sub(1); }
};

// The max_db_connections / max_user_connections counters a pool's servers count against.
struct server_limits {
  std::shared_ptr<core::limit_counter> database = std::make_shared<core::limit_counter>();
  std::shared_ptr<core::limit_counter> user = std::make_shared<core::limit_counter>();
  std::uint32_t database_max = 0;  // 0: unlimited
  std::uint32_t user_max = 0;
};

struct acquire_result {
  std::unique_ptr<server_connection> server;
  server_error error;
};

class pool {
 public:
  pool(io_executor ex, std::string database, std::string user, conf::pool_settings settings,
       server_target target, std::shared_ptr<pool_budget> budget, bool multi_worker);

  // A live, idle server, a freshly opened one, or an error (53300 after wait_timeout, 08006
  // when the server cannot be reached). Never returns a server that died while idle.
  awaitable<acquire_result> acquire();
  // acquire()'s fast path, without starting a coroutine: an idle server when nobody is queued
  // ahead and the limit allows; nullptr otherwise (then call acquire()).
  std::unique_ptr<server_connection> take_now();
  // Returns a server. `clean` means it is idle outside a transaction and may be reused.
  void release(std::unique_ptr<server_connection> server, bool clean);
  // Background upkeep: close idle servers past their timeout or lifetime, keep min_idle warm.
  awaitable<void> maintain();
  void stop();

  const conf::pool_settings& settings() const { return settings_; }
  void update_settings(const conf::pool_settings& s);
  // Servers opened from now on use `t`; open ones are replaced as they leave (reload).
  void update_target(server_target t);
  pool_budget& budget() { return *budget_; }
  // Counters are per database and per user names, so they stay the same objects across reloads.
  void set_limits(server_limits l) { limits_ = std::move(l); }
  // Asked when a database or user limit is full: may close an idle server of a sibling pool.
  void set_evictor(std::function<bool(const pool&)> f) { evictor_ = std::move(f); }
  // Closes the least recently used idle server; false if there is none.
  bool close_one_idle();
  const std::string& database() const { return database_; }
  const std::string& user() const { return user_; }

  // The ParameterStatus messages a server reported for a set of wanted startup parameters (by
  // params_key): learnt on a server once per set, then written as they are to each client of it.
  std::map<std::string, std::string> validated_status_;
  // One copy of a set of settings for all the clients that want it (session_ledger keeps a
  // pointer to it until the client changes one): a driver sends the same handful to every
  // connection, and a server respells them the same way for each; some 100 bytes per setting
  // that every idle client would otherwise hold. Null for no settings.
  std::shared_ptr<const core::param_map> shared_settings(const core::param_map& wanted);

  std::uint32_t idle_count() const { return static_cast<std::uint32_t>(idle_.size()); }
  std::uint32_t waiting_count() const { return static_cast<std::uint32_t>(waiters_.size()); }
  std::uint32_t active_count() const { return active_; }
  const std::deque<std::unique_ptr<server_connection>>& idle_servers() const { return idle_; }
  // How long the longest waiter has waited (0 when none waits).
  clock::duration oldest_wait(clock::time_point now) const;
  void close_idle();
  // The adaptive limit with `size: auto`, else the fixed size.
  std::uint32_t current_limit() const { return limit_ ? limit_->limit() : settings_.size; }

 private:
  // One acquire() waiting, on its coroutine's frame. It is woken once: handed a server, told to
  // open one, at its wake_at, or at stop(); then it leaves the queue and looks again.
  using wake_handler = asio::async_result<use_awaitable_t, void()>::handler_type;
  // auto_unlink: a waiter whose coroutine is destroyed unwoken (io_context teardown) leaves the
  // queue by itself.
  using waiter_hook = boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;
  struct waiter : waiter_hook {
    std::optional<wake_handler> resume;  // set while suspended and not yet woken
    std::unique_ptr<server_connection> handed;
    bool may_open = false;  // woken because a slot came free: open a server yourself
    clock::time_point since;
    clock::time_point wake_at;  // wait_timeout's end, or the next re-check of shared limits
  };

  // pool_wait.cpp: the queue's one timer and the wake-ups. Every waiter shares the timer, armed
  // for the earliest wake_at only when no earlier expiry is pending, so a wait that ends by a
  // hand-over costs no timer operation.
  //
  // enqueue: queues `w` with the handler that resumes its acquire; called from acquire()'s own
  // frame through async_initiate, so a wait adds no coroutine frame.
  void enqueue(waiter& w, wake_handler handler);
  void wake(waiter& w);
  void arm_wait_timer(clock::time_point at);
  void on_wait_timer();

  awaitable<acquire_result> open_new();
  // One server slot: the pool's size budget, then the database's and the user's limits (all or
  // none); and its return.
  bool take_slot();
  void give_back_slot();
  // The counter of the limit that refused the last take_slot.
  core::limit_counter* refusing_limit() const {
    return last_refusal_ == core::limit_verdict::database_full ? limits_.database.get() : limits_.user.get();
  }
  // What a waiter that ran out of wait_timeout is told: the limit that kept it waiting, if any.
  acquire_result gave_up() const;
  // One acquire counted among a limit's waiters until it returns.
  class limit_wait {
   public:
    limit_wait() = default;
    limit_wait(const limit_wait&) = delete;
    limit_wait& operator=(const limit_wait&) = delete;
    ~limit_wait() {
      if (on_) on_->waiting.fetch_sub(1);
    }
    void join(core::limit_counter* c) {
      if (on_) return;
      on_ = c;
      on_->waiting.fetch_add(1);
    }

   private:
    core::limit_counter* on_ = nullptr;
  };
  bool limit_contended() const {
    return limits_.database->waiting.load(std::memory_order_relaxed) > 0 ||
           limits_.user->waiting.load(std::memory_order_relaxed) > 0;
  }
  acquire_result lend(acquire_result r);
  void note_lent(server_connection& server);  // counts it active and stamps when it was lent
  std::unique_ptr<server_connection> take_idle();
  void discard(std::unique_ptr<server_connection> server);
  // Every idle server enters idle_ here, watched (server_connection::watch_idle).
  void keep_idle(std::unique_ptr<server_connection> server);
  // Workers sharing the size: closes idle servers while another worker's pool waits for a slot.
  void give_back_to_starving();
  void wake_one_for_slot();
  // size: auto only. Whether one more server may be lent now, counting the ones promised to
  // waiters that have not resumed yet; and waking waiters for slots the limit has just opened.
  bool below_limit() const { return !limit_ || active_ + promised_ < limit_->limit(); }
  void grant_slots();
  bool hand_to_waiter(std::unique_ptr<server_connection>& server);
  // A server released while CancelRequests for its backend travel is lent to nobody until they
  // are delivered or dropped; past `cancel_delivery_bound` it is closed instead.
  static constexpr millis cancel_delivery_bound{1000};
  awaitable<void> hold_for_cancels(std::unique_ptr<server_connection> server);
  // release() once no cancel can reach the server any more: idle it, hand it on, or close it.
  void settle(std::unique_ptr<server_connection> server, bool clean);
  void sample_transaction(const server_connection& server);

  io_executor ex_;
  std::string database_;
  std::string user_;
  conf::pool_settings settings_;
  server_target target_;
  std::shared_ptr<pool_budget> budget_;
  bool multi_worker_;
  std::deque<std::unique_ptr<server_connection>> idle_;  // back = most recently used
  boost::intrusive::list<waiter, boost::intrusive::constant_time_size<false>> waiters_;  // FIFO
  std::map<core::param_map, std::shared_ptr<const core::param_map>> startup_sets_;  // shared_settings
  // Made at the first wait; gone at stop(), which the worker also calls before its io_context
  // (which the timer needs) goes away.
  std::optional<io_timer> wait_timer_;
  bool wait_timer_armed_ = false;
  clock::time_point wait_timer_at_{};
  std::uint32_t active_ = 0;  // lent out or opening, on this worker
  std::uint32_t promised_ = 0;  // waiters handed a server or told to open one, not resumed yet
  std::optional<core::concurrency_limit> limit_;  // size: auto
  std::uint64_t next_id_ = 1;
  std::uint64_t generation_ = 0;  // bumped when a reload changes the target
  bool stopped_ = false;
  server_limits limits_;
  std::function<bool(const pool&)> evictor_;
  bool limit_blocked_ = false;  // the last take_slot failed on a limit, not on `size`
  core::limit_verdict last_refusal_ = core::limit_verdict::granted;
};

}  // namespace pgrelay::proxy
