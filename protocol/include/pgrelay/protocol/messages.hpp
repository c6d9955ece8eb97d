// Typed views over the bodies of the messages pgrelay inspects. Each parse_* returns false on a
// malformed body; string views point into the body and live as long as it does.
#pragma once

#include <cstdint>
#include <string_view>

namespace pgrelay::protocol {

// 'R': Authentication* — the code and whatever follows it (salt, SASL data, mechanism list).
struct authentication_view {
  std::int32_t code = 0;
  std::string_view data;
};
bool parse_authentication(std::string_view body, authentication_view& out);

// Walks the NUL-terminated mechanism list of AuthenticationSASL data.
bool sasl_mechanisms_contain(std::string_view data, std::string_view mechanism);

// 'Z'
bool parse_ready_for_query(std::string_view body, char& status);

// 'S' from the backend
struct parameter_status_view {
  std::string_view name;
  std::string_view value;
};
bool parse_parameter_status(std::string_view body, parameter_status_view& out);

// 'K': pid and the variable-length secret.
struct backend_key_data_view {
  std::int32_t pid = 0;
  std::string_view secret;
};
bool parse_backend_key_data(std::string_view body, backend_key_data_view& out);

// 'Q'
bool parse_query(std::string_view body, std::string_view& sql);

// 'P'
struct parse_view {
  std::string_view name;
  std::string_view sql;
  std::int16_t param_type_count = 0;
  std::string_view param_types;  // param_type_count × int32, raw
};
bool parse_parse(std::string_view body, parse_view& out);
// Whether a Parse body names the unnamed statement (its name, first, is empty), read from its
// first byte alone: most Parses are unnamed, and only named ones need their text found.
inline bool parse_is_unnamed(std::string_view body) { return !body.empty() && body[0] == '\0'; }

// 'B' — only the leading names; the rest is forwarded untouched.
struct bind_view {
  std::string_view portal;
  std::string_view statement;
  std::string_view rest;
};
bool parse_bind(std::string_view body, bind_view& out);

// 'D' and 'C' from the frontend: kind 'S' (statement) or 'P' (portal) and a name.
struct target_view {
  char kind = 0;
  std::string_view name;
};
bool parse_describe_or_close(std::string_view body, target_view& out);

// 'E' from the frontend
struct execute_view {
  std::string_view portal;
  std::int32_t max_rows = 0;
};
bool parse_execute(std::string_view body, execute_view& out);

// 'p' as SASLInitialResponse: mechanism, then int32 length (-1: none) and the data.
struct sasl_initial_view {
  std::string_view mechanism;
  std::string_view data;
};
bool parse_sasl_initial_response(std::string_view body, sasl_initial_view& out);

// 'C' from the backend: the command tag.
bool parse_command_complete(std::string_view body, std::string_view& tag);

}  // namespace pgrelay::protocol
