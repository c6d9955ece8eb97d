#include "pgrelay/core/disconnect_reason.hpp"

namespace pgrelay::core {

std::string_view to_string(disconnect_reason r) {
  switch (r) {
    case disconnect_reason::client_terminate: return "client_terminate";
    case disconnect_reason::client_eof: return "client_eof";
    case disconnect_reason::login_failed: return "login_failed";
    case disconnect_reason::protocol_error: return "protocol_error";
    case disconnect_reason::server_lost: return "server_lost";
    case disconnect_reason::wait_timeout: return "wait_timeout";
    case disconnect_reason::idle_in_transaction_timeout: return "idle_in_transaction_timeout";
    case disconnect_reason::query_timeout: return "query_timeout";
    case disconnect_reason::shutdown: return "shutdown";
    case disconnect_reason::internal_error: return "internal_error";
    case disconnect_reason::session_sync_failed: return "session_sync_failed";
    case disconnect_reason::message_too_large: return "message_too_large";
  }
  return "unknown";
}

}  // namespace pgrelay::core
