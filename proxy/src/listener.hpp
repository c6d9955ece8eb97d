// Accepts clients on one TCP or Unix endpoint and starts a session coroutine for each.
#pragma once

#include <memory>

#include "pgrelay/conf/config.hpp"

namespace pgrelay::proxy {

class worker;

// Opens the endpoint (SO_REUSEPORT on TCP so every worker can accept on it) and starts
// accepting; the returned handle closes the acceptor when destroyed. Throws on bind failure.
std::shared_ptr<void> start_listener(worker& w, const conf::endpoint& ep);

}  // namespace pgrelay::proxy
