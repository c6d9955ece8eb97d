// Why a client session ended, for the disconnect log line.
#pragma once

#include <cstdint>
#include <string_view>

namespace pgrelay::core {

// One byte: it packs with the flags beside it in every session.
enum class disconnect_reason : std::uint8_t {
  client_terminate,
  client_eof,
  login_failed,
  protocol_error,
  server_lost,
  wait_timeout,
  idle_in_transaction_timeout,
  query_timeout,
  shutdown,
  internal_error,
  session_sync_failed,
  message_too_large,
};

std::string_view to_string(disconnect_reason r);

}  // namespace pgrelay::core
