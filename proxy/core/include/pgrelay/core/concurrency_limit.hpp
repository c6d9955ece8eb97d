// The adaptive limit on server connections behind `pool.size: auto`: a deterministic controller fed
// with completed transactions and the time; it owns no clock, timer or socket.
//
// Why this shape. Postgres on a few cores has a knee: past k concurrent transactions throughput is
// flat and every extra connection only adds latency (and memory, lock and snapshot contention). The
// right pool size is "just past the knee", and k moves with the workload. A fixed size is wrong in one
// direction or the other, so the pool measures instead:
//
// - Vegas (TCP Vegas, Netflix concurrency-limits): with L0 the latency a transaction takes when it
//   does not share the server, and L the latency measured now with c transactions in flight, the
//   number of transactions queued inside Postgres rather than running is q = c·(1 − L0/L) (in the
//   model "throughput = min(c, k)·rate", q = c − k exactly). Keep alpha ≤ q ≤ beta: grow by one when
//   q < alpha and clients are waiting for a server (growing without demand would only drift to max),
//   shrink when q > beta, by half the excess so a far-off start converges in a few steps, not dozens.
// - L0 cannot be seen while the pool runs above the knee: every latency is then inflated, and a
//   controller that started high would take the inflated figure for the baseline and never shrink.
//   So, like BBR's ProbeRTT, the controller periodically runs one interval at half its limit. L0 is
//   the minimum of the per-interval mean latencies over the last two probe periods. A probe that
//   cost throughput ran below the knee, so its latency *is* L0 now and replaces that history: when
//   transactions get heavier, a stale L0 would otherwise read as queueing and starve the pool.
// - A probe that lost (almost) no throughput is direct proof that the slots above the probe level
//   were useless: the limit drops to the probe level + 1 at once, and the next probe comes soon. From
//   a start at 20 with a knee at 2 this binary search takes four probes instead of a slow walk.
// - Decisions use interval means (at least min_samples completions), never single samples: one slow
//   query must not move the limit, and a per-sample minimum would be biased far below the real L0.
// - An interval with no completion at all while clients wait (every slot held by long transactions
//   or idle-in-transaction clients) gives no latency to judge by; the limit then grows by one per
//   stall, up to max, because starving waiting clients is worse than a few more Postgres backends.
// - A transaction far slower than the baseline (a long report, a pinned session, a client idle in
//   its transaction) says nothing about queueing, and one such sample would swamp an interval's
//   mean: a sample counts as at most `outlier` × L0. Its slot still counts in the in-flight figure.
// - Steady state: between alpha and beta nothing moves, and probes return to the previous limit, so
//   the limit stays within a band of about beta − alpha + 1 once converged.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace pgrelay::core {

struct concurrency_limit_settings {
  std::uint32_t min = 1;      // never below (at least 1)
  std::uint32_t max = 20;     // never above: the configured max_size
  std::uint32_t initial = 0;  // 0: start at min(max, max(min, 4))
  std::chrono::nanoseconds interval = std::chrono::milliseconds(100);  // decision period
  std::uint32_t min_samples = 10;   // an interval needs this many completions (or a stall)
  std::uint32_t stall_intervals = 10;  // no completion for this many intervals = a stall
  double alpha = 1.0;  // grow while fewer transactions than this wait inside Postgres
  double beta = 3.0;   // shrink while more than this wait inside Postgres
  std::uint32_t probe_every = 20;  // intervals between probes at half the limit
  double outlier = 10;  // a sample counts as at most this many times the baseline latency
};

class concurrency_limit {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  enum class decision : std::uint8_t { none, hold, grow, shrink, probe, probe_cut, probe_end, stall_grow, idle };

  // What the last closed interval measured and what was decided; for logs, metrics and tests.
  struct report {
    decision what = decision::none;
    double latency_ns = 0;     // mean transaction latency in the interval
    double in_flight = 0;      // mean in-flight count seen at completions
    double throughput = 0;     // completions per second
    double baseline_ns = 0;    // L0: the no-load latency estimate
    double queued = 0;         // Vegas q
    std::uint32_t limit = 0;   // the limit after the decision
  };

  // `now` starts the first interval.
  concurrency_limit(const concurrency_limit_settings& s, time_point now);

  // One transaction (a server checkout until its return) finished at `now` after `latency`;
  // `in_flight` counts the servers lent out just before it was returned (itself included);
  // `clients_waiting` whether any client was queued for a server at that moment.
  void on_complete(time_point now, std::chrono::nanoseconds latency, std::uint32_t in_flight,
                   bool clients_waiting);
  // Called periodically (every interval or so) so that a pool with no completions is noticed.
  void on_tick(time_point now, bool clients_waiting);

  // The number of server connections the pool may have lent out at once, in [min, max].
  std::uint32_t limit() const { return limit_; }
  const report& last() const { return last_; }
  const concurrency_limit_settings& settings() const { return s_; }

 private:
  struct window_stats {
    double latency_ns;
    double in_flight;
    double throughput;
  };
  void maybe_close(time_point now);
  void close_interval(time_point now);
  void decide(const window_stats& w);
  void end_probe(const window_stats& w);
  void push_baseline(double latency_ns);
  void reset_baseline(double latency_ns);
  void set_limit(std::int64_t v);

  concurrency_limit_settings s_;
  std::uint32_t limit_;
  report last_;

  // The open interval.
  time_point start_;
  std::uint32_t samples_ = 0;
  double latency_sum_ns_ = 0;
  double in_flight_sum_ = 0;
  bool waited_ = false;

  // Interval means of the last two probe periods (a ring); their minimum is L0.
  std::vector<double> history_;
  std::size_t history_next_ = 0;
  double baseline_ns_ = 0;  // min(history_), 0 while empty

  // Probing.
  bool probing_ = false;
  std::uint32_t saved_limit_ = 0;
  window_stats before_probe_{};
  std::uint32_t since_probe_ = 0;
  std::uint32_t next_probe_after_;
};

}  // namespace pgrelay::core
