// Who a client logged in as and how it is served: set by the login, read by everything after.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pgrelay/protocol/scram.hpp"

namespace pgrelay::core {

struct client_identity {
  std::string user;
  std::string database;
  std::string application_name;  // from the startup packet, for logs and the console
  bool admin = false;            // logged in to the admin console
  bool session_mode = false;     // keeps one server from login to disconnect
  // A replication connection's startup parameters (it is relayed, not pooled), and what the
  // client's SCRAM proof revealed, to log in to Postgres as the client (pass-through pools and
  // replication), with where its verifier came from. Held from the proof until the session
  // joins its pool (the worker keeps the pool's copy) or opens its replication stream. Boxed:
  // most logins have neither, and an idle client keeps its identity.
  struct login_material {
    std::optional<std::vector<std::pair<std::string, std::string>>> replication_params;
    std::shared_ptr<const protocol::scram_passthrough_keys> keys;
    std::string keys_source;
  };
  std::unique_ptr<login_material> login;

  login_material& login_box() {
    if (!login) login = std::make_unique<login_material>();
    return *login;
  }
  bool replication() const { return login && login->replication_params; }
};

}  // namespace pgrelay::core
