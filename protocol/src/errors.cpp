// ErrorResponse and NoticeResponse: layout is a sequence of (field byte, cstring), then a NUL.
#include "pgrelay/protocol/errors.hpp"

#include "pgrelay/protocol/cursor.hpp"
#include "pgrelay/protocol/writer.hpp"

namespace pgrelay::protocol {

std::string_view to_string(severity s) {
  switch (s) {
    case severity::error: return "ERROR";
    case severity::fatal: return "FATAL";
    case severity::panic: return "PANIC";
    case severity::warning: return "WARNING";
    case severity::notice: return "NOTICE";
    case severity::info: return "INFO";
    case severity::log: return "LOG";
  }
  return "ERROR";
}

bool parse_error_fields(std::string_view body, error_fields& out) {
  cursor c(body);
  for (;;) {
    auto field = c.u8();
    if (c.failed()) return false;
    if (field == 0) return true;
    auto value = c.cstring();
    if (c.failed()) return false;
    switch (field) {
      case 'V': out.severity = value; break;
      case 'S': if (out.severity.empty()) out.severity = value; break;
      case 'C': out.code = value; break;
      case 'M': out.message = value; break;
      case 'D': out.detail = value; break;
      case 'H': out.hint = value; break;
      default: break;
    }
  }
}

namespace build {

namespace {
void fields(std::string& out, char tag, std::string_view sev, std::string_view code,
            std::string_view message, std::string_view detail, std::string_view hint) {
  message_writer w(out);
  w.begin(tag);
  w.u8('S').cstring(sev).u8('V').cstring(sev).u8('C').cstring(code).u8('M').cstring(message);
  if (!detail.empty()) w.u8('D').cstring(detail);
  if (!hint.empty()) w.u8('H').cstring(hint);
  w.u8(0).end();
}
}  // namespace

void error_response(std::string& out, severity sev, std::string_view code, std::string_view message,
                    std::string_view detail, std::string_view hint) {
  fields(out, 'E', to_string(sev), code, message, detail, hint);
}

void notice_response(std::string& out, std::string_view message, std::string_view code) {
  fields(out, 'N', "NOTICE", code, message, {}, {});
}

}  // namespace build
}  // namespace pgrelay::protocol
