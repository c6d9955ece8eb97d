// Maps the (pid, key) pgrelay handed each client to that client's session, across workers.
// Touched at connect, disconnect and cancel only: a mutex is fine off the query path.
#pragma once

#include <array>
#include <boost/unordered/unordered_flat_map.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "net.hpp"

namespace pgrelay::proxy {

class client_session;

class cancel_registry {
 public:
  // Where a CancelRequest goes: the session, if it still lives, and its worker's loop.
  struct target {
    std::weak_ptr<client_session> session;
    io_executor executor;
  };

  // Registers a session under a fresh positive 31-bit pid; returns the pid and fills `key`.
  // The session must remove itself (remove) before its members are destroyed.
  std::int32_t add(client_session& session, std::string& key);
  void remove(std::int32_t pid);
  // Finds the session a CancelRequest names; the key is compared in constant time.
  std::optional<target> find(std::int32_t pid, std::string_view key);

 private:
  // The BackendKeyData secret: 4 bytes in protocol 3.0, held inline. An entry is 16 bytes in
  // one flat table: a node per client, allocated in the middle of its login, would take 56 bytes
  // and pin the heap that the login's transient memory leaves free.
  using secret = std::array<char, 4>;
  struct entry {
    secret key;
    client_session* session;
  };
  std::mutex mutex_;
  boost::unordered_flat_map<std::int32_t, entry> entries_;
};

}  // namespace pgrelay::proxy
