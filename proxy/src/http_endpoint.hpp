// The operator's HTTP endpoint (admin.http_listen), on worker 0's loop: /metrics in the
// Prometheus text format (built with prometheus-cpp from copies of every worker's counters taken
// at scrape time), /healthz and /readyz. No authentication: bind it to loopback or a private net.
#pragma once

#include <memory>
#include <string>

#include "net.hpp"
#include "worker.hpp"

namespace pgrelay::proxy {

// Starts accepting on `address`; the acceptor lives as long as the returned handle.
std::shared_ptr<void> start_http_endpoint(worker& w, const conf::endpoint& address);

// The /metrics body from the workers' copies (exposed for tests of the format).
std::string render_metrics(const shared_state& shared, const std::vector<worker_snapshot>& all);

}  // namespace pgrelay::proxy
