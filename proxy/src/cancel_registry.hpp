// Maps the (pid, key) pgrelay handed each client to that client's session, across workers.
// Touched at connect, disconnect and cancel only: a mutex is fine off the query path.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "net.hpp"

namespace pgrelay::proxy {

class client_session;

class cancel_registry {
 public:
  // The BackendKeyData secret: 4 bytes in protocol 3.0, held inline (a string would take 32 bytes
  // of every client's entry).
  using secret = std::array<char, 4>;
  struct entry {
    secret key;
    std::weak_ptr<client_session> session;
    io_executor executor;
  };

  // Registers a session under a fresh positive 31-bit pid; returns the pid and fills `key`.
  std::int32_t add(std::weak_ptr<client_session> session, io_executor ex, std::string& key);
  void remove(std::int32_t pid);
  // Finds the session a CancelRequest names; the key is compared in constant time.
  std::optional<entry> find(std::int32_t pid, std::string_view key);

 private:
  std::mutex mutex_;
  std::unordered_map<std::int32_t, entry> entries_;
};

}  // namespace pgrelay::proxy
