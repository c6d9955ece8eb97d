// Message views: every read goes through the bounds-checked cursor.
#include "pgrelay/protocol/messages.hpp"

#include "pgrelay/protocol/cursor.hpp"

namespace pgrelay::protocol {

bool parse_authentication(std::string_view body, authentication_view& out) {
  cursor c(body);
  out.code = c.i32();
  out.data = c.rest();
  return !c.failed();
}

bool sasl_mechanisms_contain(std::string_view data, std::string_view mechanism) {
  cursor c(data);
  for (;;) {
    auto m = c.cstring();
    if (c.failed() || m.empty()) return false;
    if (m == mechanism) return true;
  }
}

bool parse_ready_for_query(std::string_view body, char& status) {
  if (body.size() != 1) return false;
  status = body[0];
  return status == 'I' || status == 'T' || status == 'E';
}

bool parse_parameter_status(std::string_view body, parameter_status_view& out) {
  cursor c(body);
  out.name = c.cstring();
  out.value = c.cstring();
  return !c.failed() && c.at_end();
}

bool parse_backend_key_data(std::string_view body, backend_key_data_view& out) {
  cursor c(body);
  out.pid = c.i32();
  out.secret = c.rest();
  // Protocol 3.2 allows keys up to 256 bytes; 3.0 has exactly 4.
  return !c.failed() && out.secret.size() >= 4 && out.secret.size() <= 256;
}

bool parse_query(std::string_view body, std::string_view& sql) {
  cursor c(body);
  sql = c.cstring();
  return !c.failed() && c.at_end();
}

bool parse_parse(std::string_view body, parse_view& out) {
  cursor c(body);
  out.name = c.cstring();
  out.sql = c.cstring();
  out.param_type_count = c.i16();
  if (c.failed() || out.param_type_count < 0) return false;
  out.param_types = c.bytes(static_cast<std::size_t>(out.param_type_count) * 4);
  return !c.failed() && c.at_end();
}

bool parse_bind(std::string_view body, bind_view& out) {
  cursor c(body);
  out.portal = c.cstring();
  out.statement = c.cstring();
  out.rest = c.rest();
  return !c.failed();
}

bool parse_describe_or_close(std::string_view body, target_view& out) {
  cursor c(body);
  out.kind = static_cast<char>(c.u8());
  out.name = c.cstring();
  return !c.failed() && c.at_end() && (out.kind == 'S' || out.kind == 'P');
}

bool parse_execute(std::string_view body, execute_view& out) {
  cursor c(body);
  out.portal = c.cstring();
  out.max_rows = c.i32();
  return !c.failed() && c.at_end();
}

bool parse_sasl_initial_response(std::string_view body, sasl_initial_view& out) {
  cursor c(body);
  out.mechanism = c.cstring();
  auto len = c.i32();
  if (c.failed()) return false;
  if (len == -1) {  // no initial response; any other negative length is malformed (as in Postgres)
    out.data = {};
    return c.at_end();
  }
  if (len < 0) return false;
  out.data = c.bytes(static_cast<std::size_t>(len));
  return !c.failed() && c.at_end();
}

bool parse_command_complete(std::string_view body, std::string_view& tag) {
  cursor c(body);
  tag = c.cstring();
  return !c.failed();
}

}  // namespace pgrelay::protocol
