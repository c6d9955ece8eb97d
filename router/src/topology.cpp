// Pure lag arithmetic over a health checker snapshot: no clock, no I/O, no logging.
#include "pgrelay/router/topology.hpp"
#include "pgrelay/router/live_positions.hpp"

#include <algorithm>

namespace pgrelay::router {

namespace {

// One half of "16/B374D848": 1 to 8 hex digits, nothing else.
std::optional<std::uint32_t> parse_hex32(std::string_view text) {
  if (text.empty() || text.size() > 8) return std::nullopt;
  std::uint32_t value = 0;
  for (const char c : text) {
    std::uint32_t digit = 0;
    if (c >= '0' && c <= '9') {
      digit = static_cast<std::uint32_t>(c - '0');
    } else if (c >= 'A' && c <= 'F') {
      digit = static_cast<std::uint32_t>(c - 'A' + 10);
    } else if (c >= 'a' && c <= 'f') {
      digit = static_cast<std::uint32_t>(c - 'a' + 10);
    } else {
      return std::nullopt;
    }
    value = (value << 4) | digit;
  }
  return value;
}

}  // namespace

std::optional<lsn> parse_lsn(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const auto high = parse_hex32(text.substr(0, slash));
  const auto low = parse_hex32(text.substr(slash + 1));  // a second '/' fails here
  if (!high || !low) return std::nullopt;
  return (static_cast<lsn>(*high) << 32) | *low;
}

std::uint64_t lag_bytes(const topology& t, const replica_view& r) {
  const lsn head = t.primary.replay_lsn;
  const lsn replayed = r.sample.replay_lsn;
  return head > replayed ? head - replayed : 0;
}

bool eligible(const topology& t, const replica_view& r, clock::time_point now) {
  const server_sample& s = r.sample;
  if (!s.reachable || !s.in_recovery) return false;
  // A sample from the future (clock handed in slightly older than the checker's) is fresh.
  if (now > s.sampled_at && now - s.sampled_at > 3 * t.check_interval) return false;
  if (lag_bytes(t, r) > r.limits.max_bytes) return false;
  return s.replay_delay <= r.limits.max_time;
}

std::optional<lsn> position_after(const topology& t, clock::time_point written_at) {
  // The earliest qualifying mark: replicas replay it soonest, and it is as sound as a later one.
  for (const auto& m : t.primary_marks) {
    if (m.asked_at >= written_at) return m.insert_lsn;
  }
  return std::nullopt;
}

std::optional<lsn> covering_position(const topology& t, clock::time_point written_at) {
  auto slow = position_after(t, written_at);
  auto fast = t.live ? t.live->position_after(written_at) : std::nullopt;
  if (slow && fast) return std::min(*slow, *fast);
  return slow ? slow : fast;
}

void wal_history::record(clock::time_point at, lsn pos) {
  if (!points_.empty() && pos <= points_.back().second) return;
  points_.emplace_back(at, pos);
}

void wal_history::forget_before(clock::time_point cutoff) {
  std::size_t old = 0;
  while (old < points_.size() && points_[old].first < cutoff) ++old;
  if (old < 2) return;
  points_[old - 1].first = points_.front().first;
  points_.erase(points_.begin(), points_.begin() + static_cast<std::ptrdiff_t>(old - 1));
}

std::chrono::milliseconds wal_history::behind_for(lsn replayed, clock::time_point now) const {
  for (const auto& [at, pos] : points_) {
    if (pos > replayed) {
      if (now <= at) return std::chrono::milliseconds{0};
      return std::chrono::duration_cast<std::chrono::milliseconds>(now - at);
    }
  }
  return std::chrono::milliseconds{0};
}

}  // namespace pgrelay::router
