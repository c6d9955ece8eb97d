// Message type bytes of the Postgres v3 protocol, one enum per direction.
#pragma once

namespace pgrelay::protocol {

enum class frontend_tag : char {
  bind = 'B',
  close = 'C',
  copy_data = 'd',
  copy_done = 'c',
  copy_fail = 'f',
  describe = 'D',
  execute = 'E',
  flush = 'H',
  function_call = 'F',
  parse = 'P',
  password = 'p',  // also SASLInitialResponse / SASLResponse / GSSResponse
  query = 'Q',
  sync = 'S',
  terminate = 'X',
};

enum class backend_tag : char {
  authentication = 'R',
  backend_key_data = 'K',
  bind_complete = '2',
  close_complete = '3',
  command_complete = 'C',
  copy_data = 'd',
  copy_done = 'c',
  copy_in_response = 'G',
  copy_out_response = 'H',
  copy_both_response = 'W',
  data_row = 'D',
  empty_query_response = 'I',
  error_response = 'E',
  function_call_response = 'V',
  negotiate_protocol_version = 'v',
  no_data = 'n',
  notice_response = 'N',
  notification_response = 'A',
  parameter_description = 't',
  parameter_status = 'S',
  parse_complete = '1',
  portal_suspended = 's',
  ready_for_query = 'Z',
  row_description = 'T',
};

constexpr char to_char(frontend_tag t) { return static_cast<char>(t); }

// A message type a client may send after login (startup-phase 'p' excluded).
constexpr bool is_frontend_tag(char t) {
  switch (t) {
    case 'B': case 'C': case 'd': case 'c': case 'f': case 'D': case 'E':
    case 'H': case 'F': case 'P': case 'Q': case 'S': case 'X':
      return true;
    default:
      return false;
  }
}
constexpr char to_char(backend_tag t) { return static_cast<char>(t); }

// Authentication request codes carried in an 'R' message.
enum class auth_code : int {
  ok = 0,
  cleartext_password = 3,
  md5_password = 5,
  sasl = 10,
  sasl_continue = 11,
  sasl_final = 12,
};

}  // namespace pgrelay::protocol
