// Verifiers fetched by auth.query, kept for a short while so a burst of logins of one user costs
// one query. Not thread-safe (the proxy guards it); the caller hands in the time.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace pgrelay::core {

class verifier_cache {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;

  // At most `capacity` users; when full the oldest entry goes (a flood of distinct names cannot
  // grow it, and unknown users are never stored).
  explicit verifier_cache(std::size_t capacity = 4096) : capacity_(capacity == 0 ? 1 : capacity) {}

  // The verifier stored for (source, user) less than `ttl` ago, else nothing (expired entries go).
  [[nodiscard]] std::optional<std::string> find(const std::string& source, const std::string& user, time_point now,
                                                duration ttl);
  void store(const std::string& source, const std::string& user, std::string verifier, time_point now);
  // After a failed proof: the next login fetches again, so a changed password works at once.
  void forget(const std::string& source, const std::string& user);
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }

 private:
  struct entry {
    std::string verifier;
    time_point stored;
  };
  std::size_t capacity_;
  std::map<std::pair<std::string, std::string>, entry> entries_;
};

}  // namespace pgrelay::core
