// The health checker's latest view of a database's servers: an immutable snapshot that the
// workers read without locks. Times are steady-clock readings taken by the checker.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgrelay::router {

using clock = std::chrono::steady_clock;
using lsn = std::uint64_t;  // a WAL position, as pg_lsn's 64-bit value

struct lag_limits {
  std::uint64_t max_bytes = 16u << 20;
  std::chrono::milliseconds max_time{500};
};

struct server_sample {
  std::string name;             // "primary" or the replica's name
  bool reachable = false;
  bool in_recovery = false;
  lsn receive_lsn = 0;          // replicas: pg_last_wal_receive_lsn()
  lsn replay_lsn = 0;           // replicas: pg_last_wal_replay_lsn(); primary: pg_current_wal_lsn()
  // How long the replica has been behind: the time since the checker first saw the primary at a
  // WAL position the replica has not replayed yet (wal_history::behind_for); 0 when it has
  // replayed everything the primary had at the last check, so an idle primary never makes a
  // replica look late. The primary's own sample has 0.
  std::chrono::milliseconds replay_delay{0};
  clock::time_point sampled_at{};
  lsn insert_lsn = 0;            // primary: pg_current_wal_insert_lsn(); replicas: 0
  clock::time_point asked_at{};  // before the query was sent: its positions are at least this recent
};

// The acting primary's WAL insert position, asked at a known time. Every commit acknowledged
// before `asked_at` ends at or before `insert_lsn`: a replica that replayed up to it has the commit.
struct primary_mark {
  clock::time_point asked_at;
  lsn insert_lsn = 0;
};

struct live_positions;

struct replica_view {
  std::string name;
  std::size_t server_index = 0;  // in the database's configured servers (live_positions::replay)
  std::vector<std::string> roles;
  lag_limits limits;
  server_sample sample;
};

struct topology {
  std::string database;
  server_sample primary;
  std::string primary_name = "primary";  // which configured server acts as primary now
  std::vector<replica_view> replicas;
  std::chrono::milliseconds check_interval{1000};
  // User-defined VOLATILE functions ("schema.name") read from the primary; refreshed every
  // ~10 check intervals. A statement calling one of these is not a plain read.
  std::vector<std::string> volatile_functions;
  // The last few primary marks, oldest first (read-your-writes without a query per write).
  std::vector<primary_mark> primary_marks;
  // Fresher positions from the position prober, shared by every snapshot of one checker.
  std::shared_ptr<live_positions> live;
};

// Read-your-writes: the first primary position asked at or after `written_at` (when the proxy
// saw a client's write commit), or nullopt when the checker has not asked since. Until then
// no replica can be shown to hold that write.
std::optional<lsn> position_after(const topology& t, clock::time_point written_at);

using topology_ptr = std::shared_ptr<const topology>;

// The acting primary's WAL position as the checker saw it over time, oldest first: the basis of
// a replica's replay delay measured on one clock (the checker's), immune to clock skew between
// hosts and to long transactions on an otherwise idle primary.
class wal_history {
 public:
  // Records the primary at `pos` at time `at` (non-decreasing times; a position not above the
  // last one recorded adds nothing: the older point already answers every question).
  void record(clock::time_point at, lsn pos);
  // Merges points older than `cutoff` into one (the oldest time, the newest of their
  // positions): delays measured from before the cutoff may be overstated, never understated,
  // and the history stays bounded by the points within the window plus one.
  void forget_before(clock::time_point cutoff);
  // How long a replica replayed up to `replayed` has been behind: `now` minus the time of the
  // oldest point whose position it has not replayed; 0 when it replayed all of them.
  std::chrono::milliseconds behind_for(lsn replayed, clock::time_point now) const;
  std::size_t size() const { return points_.size(); }

 private:
  std::vector<std::pair<clock::time_point, lsn>> points_;
};

// WAL position text ("16/B374D848") to its 64-bit value; nullopt on malformed text.
std::optional<lsn> parse_lsn(std::string_view text);

// Bytes a replica's replay is behind the primary's current position (0 if ahead).
std::uint64_t lag_bytes(const topology& t, const replica_view& r);

// Whether a replica may serve reads now: reachable, in recovery, a sample no older than three
// check intervals, and lag under its limits in bytes and time.
bool eligible(const topology& t, const replica_view& r, clock::time_point now);

}  // namespace pgrelay::router
