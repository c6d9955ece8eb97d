// Reading everything a running proxy is configured by: the YAML file, the secrets named in it
// from the environment, the users file and the TLS files. All or nothing; logs only warnings.
#pragma once

#include <memory>
#include <string>

#include "tls.hpp"
#include "worker.hpp"

namespace pgrelay::proxy {

struct loaded_config {
  std::shared_ptr<const conf::config> config;
  std::shared_ptr<const users_map> users;
  tls_ptr tls;
  std::string problems;  // diagnostics, one per line; empty when valid
};

// The config file, secrets from the environment and the users file: `problems` names everything
// wrong, and then the other members are empty.
loaded_config load_everything(const std::string& path);

// What a reload cannot change in a running process: said in the log, never silently ignored.
void warn_about_restart_only_changes(const conf::config& before, const conf::config& after);

}  // namespace pgrelay::proxy
