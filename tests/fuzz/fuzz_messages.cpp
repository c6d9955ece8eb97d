// Fuzzes every typed message view in protocol/: byte 0 is the message tag, the rest the body;
// the body is parsed as every message that tag can mean in either direction. Invariants: views
// point into the body, and a body that parses re-encodes to the same bytes with the builders
// pgrelay uses to write that message.
#include <span>
#include <string>

#include "fuzz_check.hpp"
#include "pgrelay/protocol/errors.hpp"
#include "pgrelay/protocol/frame.hpp"
#include "pgrelay/protocol/messages.hpp"
#include "pgrelay/protocol/writer.hpp"

namespace pr = pgrelay::protocol;
using pgrelay::fuzz::within;

namespace {

// The frame a builder should produce for (tag, body).
std::string framed(char tag, std::string_view body) {
  std::string out;
  pr::message_writer(out).begin(tag).bytes(body).end();
  return out;
}

void check_frontend(char tag, std::string_view body) {
  const auto expect = framed(tag, body);
  std::string again;
  switch (tag) {
    case 'Q': {
      std::string_view sql;
      if (!pr::parse_query(body, sql)) return;
      FUZZ_CHECK(within(sql, body));
      pr::build::query(again, sql);
      break;
    }
    case 'P': {
      pr::parse_view v;
      if (!pr::parse_parse(body, v)) return;
      FUZZ_CHECK(within(v.name, body) && within(v.sql, body) && within(v.param_types, body));
      FUZZ_CHECK(v.param_types.size() == static_cast<std::size_t>(v.param_type_count) * 4);
      pr::message_writer w(again);
      w.begin('P').cstring(v.name).cstring(v.sql).i16(v.param_type_count).bytes(v.param_types).end();
      break;
    }
    case 'B': {
      pr::bind_view v;
      if (!pr::parse_bind(body, v)) return;
      FUZZ_CHECK(within(v.portal, body) && within(v.statement, body) && within(v.rest, body));
      pr::message_writer(again).begin('B').cstring(v.portal).cstring(v.statement).bytes(v.rest).end();
      break;
    }
    case 'D':
    case 'C': {
      pr::target_view v;
      if (!pr::parse_describe_or_close(body, v)) return;
      FUZZ_CHECK(v.kind == 'S' || v.kind == 'P');
      FUZZ_CHECK(within(v.name, body));
      if (tag == 'D') pr::build::describe(again, v.kind, v.name);
      else pr::build::close(again, v.kind, v.name);
      break;
    }
    case 'E': {
      pr::execute_view v;
      if (!pr::parse_execute(body, v)) return;
      FUZZ_CHECK(within(v.portal, body));
      pr::build::execute(again, v.portal, v.max_rows);
      break;
    }
    case 'p': {
      pr::sasl_initial_view v;
      if (!pr::parse_sasl_initial_response(body, v)) return;
      FUZZ_CHECK(within(v.mechanism, body) && within(v.data, body));
      // Length -1 (no data) is the only negative length accepted; it re-encodes as an empty
      // payload, so compare only the other case.
      if (body.substr(v.mechanism.size() + 1, 1) == "\xff") {
        FUZZ_CHECK(body.substr(v.mechanism.size() + 1) == std::string_view("\xff\xff\xff\xff", 4));
        return;
      }
      pr::build::sasl_initial_response(again, v.mechanism, v.data);
      break;
    }
    default:
      return;
  }
  FUZZ_CHECK(again == expect);
}

void check_backend(char tag, std::string_view body) {
  const auto expect = framed(tag, body);
  std::string again;
  switch (tag) {
    case 'R': {
      pr::authentication_view v;
      if (!pr::parse_authentication(body, v)) return;
      FUZZ_CHECK(within(v.data, body) && v.data.size() + 4 == body.size());
      if (v.code == 10) (void)pr::sasl_mechanisms_contain(v.data, "SCRAM-SHA-256");
      pr::message_writer(again).begin('R').i32(v.code).bytes(v.data).end();
      break;
    }
    case 'Z': {
      char status = 0;
      if (!pr::parse_ready_for_query(body, status)) return;
      pr::build::ready_for_query(again, static_cast<pr::transaction_status>(status));
      break;
    }
    case 'S': {
      pr::parameter_status_view v;
      if (!pr::parse_parameter_status(body, v)) return;
      FUZZ_CHECK(within(v.name, body) && within(v.value, body));
      pr::build::parameter_status(again, v.name, v.value);
      break;
    }
    case 'K': {
      pr::backend_key_data_view v;
      if (!pr::parse_backend_key_data(body, v)) return;
      FUZZ_CHECK(within(v.secret, body) && v.secret.size() >= 4 && v.secret.size() <= 256);
      pr::build::backend_key_data(again, v.pid, v.secret);
      break;
    }
    case 'C': {
      std::string_view command;
      if (!pr::parse_command_complete(body, command)) return;
      FUZZ_CHECK(within(command, body));
      // Anything after the tag's NUL is ignored, so only a body that is exactly the tag
      // re-encodes to itself.
      if (command.size() + 1 != body.size()) return;
      pr::build::command_complete(again, command);
      break;
    }
    case 'E':
    case 'N': {
      pr::error_fields f;
      if (!pr::parse_error_fields(body, f)) return;
      FUZZ_CHECK(within(f.severity, body) && within(f.code, body) && within(f.message, body) &&
                 within(f.detail, body) && within(f.hint, body));
      return;  // fields pgrelay ignores are dropped, so there is no byte-exact re-encoding
    }
    default:
      return;
  }
  FUZZ_CHECK(again == expect);
}

// ErrorResponse bodies pgrelay builds parse back to the same fields.
void check_error_round_trip(std::string_view text) {
  const auto nul = text.find('\0');
  const auto message = text.substr(0, nul);
  std::string out;
  pr::build::error_response(out, pr::severity::fatal, "08P01", message, message, message);
  pr::error_fields f;
  FUZZ_CHECK(pr::parse_error_fields(std::string_view(out).substr(pr::frame_header_size), f));
  FUZZ_CHECK(f.severity == "FATAL" && f.code == "08P01" && f.message == message);
  FUZZ_CHECK(f.detail == message && f.hint == message);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const char tag = static_cast<char>(data[0]);
  auto body = pgrelay::fuzz::as_view(data + 1, size - 1);
  check_frontend(tag, body);
  check_backend(tag, body);
  check_error_round_trip(body);
  return 0;
}
