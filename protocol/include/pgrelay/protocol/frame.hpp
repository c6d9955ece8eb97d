// Incremental decoding of tagged protocol frames (1-byte tag, 4-byte length including itself,
// body) over a byte buffer. Never allocates; returned views point into the caller's buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pgrelay::protocol {

inline constexpr std::size_t frame_header_size = 5;
// Postgres itself accepts up to 1 GB for most messages; pgrelay's default cap is lower and
// configurable by the caller.
inline constexpr std::size_t default_max_frame = 1u << 30;

struct frame {
  char tag = 0;
  std::string_view body;
  std::size_t size() const { return frame_header_size + body.size(); }
};

enum class decode_status { need_more, ok, bad_length, too_large };

struct decode_result {
  decode_status status = decode_status::need_more;
  frame msg;               // valid when status == ok
  std::size_t wanted = 0;  // total bytes of the frame when known (header seen), else 0
};

// Decodes the frame at the start of `buf`. A declared length below 4 is bad_length; above
// `max_size` (header included) is too_large. Both are fatal for the connection (08P01).
decode_result decode_frame(std::string_view buf, std::size_t max_size = default_max_frame);

// Header-only peek: when at least 5 bytes are present, the tag and the total frame size.
struct frame_header {
  char tag = 0;
  std::int64_t total = 0;  // 1 + declared length; may be invalid, check with decode_frame
};
bool peek_header(std::string_view buf, frame_header& out);

// True when the whole frames at the start of `buf` include a complete one tagged `tag`. Walks
// headers only; stops (false) at the first incomplete or malformed frame.
bool has_whole_frame(std::string_view buf, char tag);

}  // namespace pgrelay::protocol
