// Decoder for the first packet a client sends; it is untrusted and bounded by max_startup_packet.
#include "pgrelay/protocol/startup.hpp"

#include "pgrelay/protocol/cursor.hpp"

namespace pgrelay::protocol {

std::string_view startup_packet::param(std::string_view name) const {
  for (const auto& [k, v] : params) {
    if (k == name) return v;
  }
  return {};
}

startup_packet decode_startup(std::string_view buf) {
  startup_packet p;
  if (buf.size() < 4) return p;
  auto declared = read_i32(buf.data());
  if (declared < 8 || static_cast<std::size_t>(declared) > max_startup_packet) {
    p.kind = startup_kind::bad_length;
    return p;
  }
  auto len = static_cast<std::size_t>(declared);
  if (buf.size() < len) return p;
  p.size = len;
  cursor c(buf.substr(4, len - 4));
  auto code = c.i32();
  switch (code) {
    case ssl_request_code:
      p.kind = len == 8 ? startup_kind::ssl_request : startup_kind::bad_length;
      return p;
    case gssenc_request_code:
      p.kind = len == 8 ? startup_kind::gssenc_request : startup_kind::bad_length;
      return p;
    case cancel_request_code:
      if (len < 16) {
        p.kind = startup_kind::bad_length;
        return p;
      }
      p.kind = startup_kind::cancel_request;
      p.cancel_pid = c.i32();
      p.cancel_key = c.rest();
      return p;
    default: break;
  }
  if ((code >> 16) != 3) {
    p.kind = startup_kind::bad_version;
    p.version = code;
    return p;
  }
  p.version = code;
  for (;;) {
    auto name = c.cstring();
    if (c.failed()) {
      p.kind = startup_kind::malformed;
      return p;
    }
    if (name.empty()) break;
    auto value = c.cstring();
    if (c.failed()) {
      p.kind = startup_kind::malformed;
      return p;
    }
    p.params.emplace_back(name, value);
  }
  p.kind = c.at_end() ? startup_kind::startup : startup_kind::malformed;
  return p;
}

}  // namespace pgrelay::protocol
