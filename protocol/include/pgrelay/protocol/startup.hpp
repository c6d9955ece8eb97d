// The untagged first packet of a connection: StartupMessage, SSLRequest, GSSENCRequest or
// CancelRequest. Layout: int32 length (including itself), int32 code, payload.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace pgrelay::protocol {

inline constexpr std::int32_t protocol_3_0 = 196608;  // 3 << 16
inline constexpr std::int32_t ssl_request_code = 80877103;
inline constexpr std::int32_t gssenc_request_code = 80877104;
inline constexpr std::int32_t cancel_request_code = 80877102;
// Postgres rejects startup packets longer than this (MAX_STARTUP_PACKET_LENGTH).
inline constexpr std::size_t max_startup_packet = 10000;

enum class startup_kind {
  need_more,
  startup,
  ssl_request,
  gssenc_request,
  cancel_request,
  bad_length,       // declared length < 8 or > max_startup_packet
  bad_version,      // a protocol major version other than 3
  malformed,        // parameters not NUL-terminated pairs
};

struct startup_packet {
  startup_kind kind = startup_kind::need_more;
  std::size_t size = 0;          // bytes consumed when complete
  std::int32_t version = 0;      // for startup: the requested version (3.x)
  // startup: name/value pairs in arrival order; views into the input buffer.
  std::vector<std::pair<std::string_view, std::string_view>> params;
  // cancel_request: pid and the variable-length secret key (4 bytes in 3.0, longer in 3.2).
  std::int32_t cancel_pid = 0;
  std::string_view cancel_key;

  std::string_view param(std::string_view name) const;
};

startup_packet decode_startup(std::string_view buf);

}  // namespace pgrelay::protocol
