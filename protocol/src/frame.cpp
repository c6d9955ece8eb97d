// Frame decoding: length checks happen here and nowhere else.
#include "pgrelay/protocol/frame.hpp"

#include "pgrelay/protocol/cursor.hpp"

namespace pgrelay::protocol {

bool peek_header(std::string_view buf, frame_header& out) {
  if (buf.size() < frame_header_size) return false;
  out.tag = buf[0];
  out.total = 1 + std::int64_t{read_i32(buf.data() + 1)};
  return true;
}

bool has_whole_frame(std::string_view buf, char tag) {
  frame_header h;
  while (peek_header(buf, h)) {
    if (h.total < static_cast<std::int64_t>(frame_header_size) || h.total > static_cast<std::int64_t>(buf.size())) {
      return false;
    }
    if (h.tag == tag) return true;
    buf.remove_prefix(static_cast<std::size_t>(h.total));
  }
  return false;
}

decode_result decode_frame(std::string_view buf, std::size_t max_size) {
  decode_result r;
  frame_header h;
  if (!peek_header(buf, h)) return r;
  if (h.total < static_cast<std::int64_t>(frame_header_size)) {
    r.status = decode_status::bad_length;
    return r;
  }
  if (static_cast<std::uint64_t>(h.total) > max_size) {
    r.status = decode_status::too_large;
    return r;
  }
  r.wanted = static_cast<std::size_t>(h.total);
  if (buf.size() < r.wanted) return r;
  r.status = decode_status::ok;
  r.msg.tag = h.tag;
  r.msg.body = buf.substr(frame_header_size, r.wanted - frame_header_size);
  return r;
}

}  // namespace pgrelay::protocol
