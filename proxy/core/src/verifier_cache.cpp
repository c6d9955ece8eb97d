// The auth.query verifier cache: a bounded map with an age check on every read.
#include "pgrelay/core/verifier_cache.hpp"

#include <algorithm>

namespace pgrelay::core {

std::optional<std::string> verifier_cache::find(const std::string& source, const std::string& user, time_point now,
                                                duration ttl) {
  auto it = entries_.find({source, user});
  if (it == entries_.end()) return std::nullopt;
  if (now - it->second.stored >= ttl || now < it->second.stored) {
    entries_.erase(it);
    return std::nullopt;
  }
  return it->second.verifier;
}

void verifier_cache::store(const std::string& source, const std::string& user, std::string verifier, time_point now) {
  auto key = std::make_pair(source, user);
  if (!entries_.contains(key) && entries_.size() >= capacity_) {
    auto oldest = std::min_element(entries_.begin(), entries_.end(),
                                   [](const auto& a, const auto& b) { return a.second.stored < b.second.stored; });
    entries_.erase(oldest);
  }
  entries_[std::move(key)] = entry{std::move(verifier), now};
}

void verifier_cache::forget(const std::string& source, const std::string& user) { entries_.erase({source, user}); }

}  // namespace pgrelay::core
