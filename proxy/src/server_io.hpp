// Small helpers shared by the server connection's login and its internal queries.
#pragma once

#include <string>
#include <string_view>

#include "byte_stream.hpp"
#include "net.hpp"
#include "pgrelay/protocol/errors.hpp"
#include "pgrelay/protocol/messages.hpp"
#include "server_connection.hpp"

namespace pgrelay::proxy::server_io {

awaitable<error_code> write_all(byte_stream& s, const std::string& data);  // server_io.cpp

inline server_error fail(std::string_view code, std::string message) {
  return server_error{std::string(code), std::move(message)};
}

inline server_error from_error_body(std::string_view body) {
  protocol::error_fields f;
  if (!protocol::parse_error_fields(body, f))
    return fail(protocol::sqlstate::protocol_violation, "malformed error from server");
  return server_error{f.code.empty() ? std::string(protocol::sqlstate::connection_failure) : std::string(f.code),
                      std::string(f.message)};
}

}  // namespace pgrelay::proxy::server_io
