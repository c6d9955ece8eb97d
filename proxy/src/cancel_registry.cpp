// Cancel keys: random, positive pids so pg_terminate_backend(pid) never overflows an integer.
#include "cancel_registry.hpp"

#include <openssl/crypto.h>

#include <algorithm>

#include "client_session.hpp"
#include "pgrelay/protocol/scram.hpp"

namespace pgrelay::proxy {

std::int32_t cancel_registry::add(client_session& session, std::string& key) {
  key = protocol::random_bytes(sizeof(secret));
  secret held{};
  std::copy(key.begin(), key.end(), held.begin());
  std::lock_guard lock(mutex_);
  for (;;) {
    auto raw = protocol::random_bytes(4);
    std::uint32_t v = 0;
    for (char c : raw) v = (v << 8) | static_cast<unsigned char>(c);
    auto pid = static_cast<std::int32_t>(v & 0x7fffffffu);
    if (pid == 0 || entries_.contains(pid)) continue;
    entries_.emplace(pid, entry{held, &session});
    return pid;
  }
}

void cancel_registry::remove(std::int32_t pid) {
  std::lock_guard lock(mutex_);
  entries_.erase(pid);
}

std::optional<cancel_registry::target> cancel_registry::find(std::int32_t pid, std::string_view key) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(pid);
  if (it == entries_.end()) return std::nullopt;
  const auto& k = it->second.key;
  if (k.size() != key.size() || CRYPTO_memcmp(k.data(), key.data(), k.size()) != 0) return std::nullopt;
  // The session is registered, so its destructor has not passed remove(): its members live. Its
  // last owner may be gone already; then the weak pointer is empty and the cancel is dropped.
  client_session& s = *it->second.session;
  return target{s.weak_from_this(), s.executor()};
}

}  // namespace pgrelay::proxy
