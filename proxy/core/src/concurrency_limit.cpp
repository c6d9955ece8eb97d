// The adaptive concurrency limit: interval bookkeeping, the Vegas step and the probes. Pure: the
// caller hands in the time and the samples.
#include "pgrelay/core/concurrency_limit.hpp"

#include <algorithm>
#include <cmath>

namespace pgrelay::core {

namespace {
// A probe after a plateau is repeated this soon (in intervals), to finish the search downwards.
constexpr std::uint32_t probe_again_soon = 3;
// Throughput elasticity below which a probe counts as "lost nothing": halving the concurrency cost
// less than ~10 % throughput.
constexpr double plateau_elasticity = 0.15;
}  // namespace

concurrency_limit::concurrency_limit(const concurrency_limit_settings& s, time_point now) : s_(s), start_(now) {
  s_.min = std::max<std::uint32_t>(1, s_.min);
  s_.max = std::max(s_.min, s_.max);
  s_.min_samples = std::max<std::uint32_t>(1, s_.min_samples);
  s_.stall_intervals = std::max<std::uint32_t>(1, s_.stall_intervals);
  s_.probe_every = std::max<std::uint32_t>(2, s_.probe_every);
  if (s_.interval.count() <= 0) s_.interval = std::chrono::milliseconds(100);
  auto initial = s_.initial != 0 ? s_.initial : std::max(s_.min, std::uint32_t{4});
  limit_ = std::clamp(initial, s_.min, s_.max);
  // The first probe comes early: a start far above the knee is only discovered by probing.
  next_probe_after_ = probe_again_soon;
  last_.limit = limit_;
}

void concurrency_limit::on_complete(time_point now, std::chrono::nanoseconds latency, std::uint32_t in_flight,
                                    bool clients_waiting) {
  ++samples_;
  double l = static_cast<double>(std::max<std::int64_t>(0, latency.count()));
  latency_sum_ns_ += baseline_ns_ > 0 ? std::min(l, s_.outlier * baseline_ns_) : l;
  in_flight_sum_ += static_cast<double>(std::max<std::uint32_t>(1, in_flight));
  waited_ = waited_ || clients_waiting;
  maybe_close(now);
}

void concurrency_limit::on_tick(time_point now, bool clients_waiting) {
  waited_ = waited_ || clients_waiting;
  maybe_close(now);
}

void concurrency_limit::maybe_close(time_point now) {
  auto elapsed = now - start_;
  if (elapsed < s_.interval) return;
  bool long_enough = elapsed >= s_.interval * s_.stall_intervals;
  if (samples_ >= s_.min_samples || long_enough) close_interval(now);
}

void concurrency_limit::close_interval(time_point now) {
  double seconds = std::chrono::duration<double>(now - start_).count();
  if (samples_ == 0) {
    last_ = report{};
    if (probing_) {
      probing_ = false;
      set_limit(saved_limit_);
      last_.what = decision::probe_end;
    } else if (waited_) {
      set_limit(std::int64_t{limit_} + 1);
      last_.what = decision::stall_grow;
    } else {
      last_.what = decision::idle;
    }
    last_.limit = limit_;
  } else {
    double n = static_cast<double>(samples_);
    window_stats w{latency_sum_ns_ / n, in_flight_sum_ / n, seconds > 0 ? n / seconds : 0.0};
    if (probing_) {
      end_probe(w);
    } else {
      decide(w);
    }
  }
  start_ = now;
  samples_ = 0;
  latency_sum_ns_ = 0;
  in_flight_sum_ = 0;
  waited_ = false;
}

void concurrency_limit::decide(const window_stats& w) {
  push_baseline(w.latency_ns);
  double base = baseline_ns_;
  double queued = w.latency_ns > 0 ? w.in_flight * (1.0 - base / w.latency_ns) : 0.0;
  last_ = report{decision::hold, w.latency_ns, w.in_flight, w.throughput, base, queued, 0};
  if (queued > s_.beta) {
    auto step = std::max<std::int64_t>(1, static_cast<std::int64_t>((queued - s_.beta) / 2));
    set_limit(std::int64_t{limit_} - step);
    last_.what = decision::shrink;
  } else if (queued < s_.alpha && waited_ && limit_ < s_.max) {
    set_limit(std::int64_t{limit_} + 1);
    last_.what = decision::grow;
  }
  ++since_probe_;
  // Probe only under demand: without waiting clients the pool already runs below its limit and
  // the low-concurrency latency is measured for free.
  if (since_probe_ >= next_probe_after_ && waited_ && limit_ > s_.min && last_.what != decision::shrink) {
    before_probe_ = w;
    saved_limit_ = limit_;
    probing_ = true;
    set_limit(limit_ / 2);
    last_.what = decision::probe;
  }
  last_.limit = limit_;
}

void concurrency_limit::end_probe(const window_stats& w) {
  push_baseline(w.latency_ns);
  probing_ = false;
  since_probe_ = 0;
  const auto& b = before_probe_;
  bool plateau = false;
  if (b.in_flight > w.in_flight * 1.2 && w.throughput > 0 && b.throughput > 0) {
    double gain = std::log(b.throughput / w.throughput) / std::log(b.in_flight / w.in_flight);
    plateau = gain < plateau_elasticity;
  }
  last_ = report{decision::probe_end, w.latency_ns, w.in_flight, w.throughput, baseline_ns_, 0, 0};
  if (plateau) {
    // The slots between the probe level and the old limit bought nothing: drop them now.
    auto cut = static_cast<std::int64_t>(std::ceil(w.in_flight)) + 1;
    set_limit(std::min<std::int64_t>(saved_limit_, cut));
    last_.what = decision::probe_cut;
    next_probe_after_ = probe_again_soon;
  } else {
    // Throughput fell with the concurrency, so the probe level was below the knee and its latency
    // is the unshared latency now: it replaces the history, which may be from a lighter workload.
    reset_baseline(w.latency_ns);
    last_.baseline_ns = w.latency_ns;
    set_limit(saved_limit_);
    next_probe_after_ = s_.probe_every;
  }
  last_.limit = limit_;
}

void concurrency_limit::push_baseline(double latency_ns) {
  std::size_t cap = 2 * static_cast<std::size_t>(s_.probe_every) + 2;
  if (history_.size() < cap) {
    history_.push_back(latency_ns);
  } else {
    history_[history_next_] = latency_ns;
    history_next_ = (history_next_ + 1) % cap;
  }
  baseline_ns_ = *std::min_element(history_.begin(), history_.end());
}

void concurrency_limit::reset_baseline(double latency_ns) {
  history_.assign(1, latency_ns);
  history_next_ = 0;
  baseline_ns_ = latency_ns;
}

void concurrency_limit::set_limit(std::int64_t v) {
  limit_ = static_cast<std::uint32_t>(std::clamp<std::int64_t>(v, s_.min, s_.max));
}

}  // namespace pgrelay::core
