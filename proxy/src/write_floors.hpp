// Read-your-writes beyond one connection: per (database, user) and per database, the latest
// instant a write of that scope was seen to finish, shared by every worker. A session finds its
// slot once per configuration (under the lock) and then touches only the atomic: a write raises
// it, a read loads it. Slots are made by name on first use, so users added by a reload (or
// logging in through auth.query) get theirs, and they are never freed (one per user ever seen).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

namespace pgrelay::proxy {

class write_floors {
 public:
  // `user` empty: the slot of the whole database. Callable from any thread; the address stays valid.
  std::atomic<std::int64_t>& slot(const std::string& database, const std::string& user) {
    std::lock_guard lock{mutex_};
    auto& s = slots_[{database, user}];
    if (!s) s = std::make_unique<std::atomic<std::int64_t>>(0);
    return *s;
  }

 private:
  std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<std::atomic<std::int64_t>>> slots_;
};

}  // namespace pgrelay::proxy
