// The running proxy: loads configuration and users, starts the workers, handles signals.
#pragma once

#include <string>

namespace pgrelay::proxy {

// Runs until SIGINT or SIGTERM; returns the process exit code.
int run_proxy(const std::string& config_path);

}  // namespace pgrelay::proxy
