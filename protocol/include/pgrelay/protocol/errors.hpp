// SQLSTATE codes pgrelay emits and the ErrorResponse / NoticeResponse builders and parser.
#pragma once

#include <string>
#include <string_view>

namespace pgrelay::protocol {

namespace sqlstate {
inline constexpr std::string_view protocol_violation = "08P01";
inline constexpr std::string_view connection_failure = "08006";
inline constexpr std::string_view connection_exception = "08000";
inline constexpr std::string_view cannot_connect_now = "57P03";
inline constexpr std::string_view admin_shutdown = "57P01";
inline constexpr std::string_view query_canceled = "57014";
inline constexpr std::string_view too_many_connections = "53300";
inline constexpr std::string_view invalid_password = "28P01";
inline constexpr std::string_view invalid_authorization = "28000";
inline constexpr std::string_view invalid_catalog_name = "3D000";
inline constexpr std::string_view idle_in_transaction_timeout = "25P03";
inline constexpr std::string_view feature_not_supported = "0A000";
inline constexpr std::string_view insufficient_privilege = "42501";
inline constexpr std::string_view internal_error = "XX000";
inline constexpr std::string_view syntax_error = "42601";
inline constexpr std::string_view program_limit_exceeded = "54000";
}  // namespace sqlstate

enum class severity { error, fatal, panic, warning, notice, info, log };
std::string_view to_string(severity s);

// The fields of an ErrorResponse / NoticeResponse that pgrelay reads or writes. Views point
// into the message body they were parsed from.
struct error_fields {
  std::string_view severity;
  std::string_view code;
  std::string_view message;
  std::string_view detail;
  std::string_view hint;
};

// Parses an 'E' or 'N' body. Missing fields stay empty; returns false on a malformed body.
bool parse_error_fields(std::string_view body, error_fields& out);

namespace build {
void error_response(std::string& out, severity sev, std::string_view code, std::string_view message,
                    std::string_view detail = {}, std::string_view hint = {});
void notice_response(std::string& out, std::string_view message, std::string_view code = "00000");
}  // namespace build

}  // namespace pgrelay::protocol
