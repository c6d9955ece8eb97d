// How acquire() waits for a server: a FIFO of waiters on their coroutines' frames and one timer
// for the whole queue, instead of a timer per waiter (a timer operation and its locking per
// wait, when most waits end by a hand-over long before their timeout).
#include "pool.hpp"

namespace pgrelay::proxy {

void pool::enqueue(waiter& w, wake_handler handler) {
  w.resume.emplace(std::move(handler));
  waiters_.push_back(w);
  arm_wait_timer(w.wake_at);
}

void pool::wake(waiter& w) {
  if (!w.resume) return;  // woken already, not resumed yet
  // Posted, not called: the waker is in the middle of another session's release. A plain
  // function posted costs less than the handler itself, which Asio would post with a work guard
  // and dispatch a second time through its own executor.
  asio::post(ex_, [handler = std::move(*w.resume)]() mutable { std::move(handler)(); });
  w.resume.reset();
}

void pool::arm_wait_timer(clock::time_point at) {
  // Waiters join with later and later wake-ups: a pending earlier expiry serves them all (the
  // expiry looks for the next one). wait_timeout 0 waits without end.
  if (stopped_ || at == clock::time_point::max() || (wait_timer_armed_ && wait_timer_at_ <= at)) return;
  if (!wait_timer_) wait_timer_.emplace(ex_);
  wait_timer_armed_ = true;
  wait_timer_at_ = at;
  wait_timer_->expires_at(at);  // a pending wait completes as aborted and does nothing
  wait_timer_->async_wait([this](error_code ec) {
    if (!ec) on_wait_timer();
  });
}

void pool::on_wait_timer() {
  wait_timer_armed_ = false;
  const auto now = clock::now();
  auto next = clock::time_point::max();
  for (auto& w : waiters_) {
    if (!w.resume) continue;
    if (w.wake_at <= now) {
      wake(w);
    } else {
      next = std::min(next, w.wake_at);
    }
  }
  arm_wait_timer(next);
}

}  // namespace pgrelay::proxy
