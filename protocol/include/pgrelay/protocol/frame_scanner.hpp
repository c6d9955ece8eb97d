// Walks a byte stream frame by frame without buffering whole frames: large frames (DataRow,
// CopyData, big queries) pass through in pieces, small frames the caller asks for arrive whole.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "pgrelay/protocol/frame.hpp"

namespace pgrelay::protocol {

struct scan_step {
  enum class kind {
    need_more,    // nothing can be consumed until more bytes arrive
    whole,        // a complete frame: tag + body; advance == frame size
    piece,        // part of a frame passing through; advance bytes may be forwarded as they are
    bad_length,   // fatal: the peer's stream cannot be trusted any more (08P01)
    too_large,
  };
  kind what = kind::need_more;
  char tag = 0;
  bool starts_frame = false;  // this step begins a new frame (its header is in it)
  bool ends_frame = false;    // this step completes the frame
  std::string_view body;      // for whole frames only
  std::size_t advance = 0;    // bytes consumed from the front of the data passed in
  std::size_t wanted = 0;     // for need_more of a wanted-whole frame: its total size
};

class frame_scanner {
 public:
  explicit frame_scanner(std::size_t max_frame = default_max_frame)
      : max_frame_(static_cast<std::uint32_t>(std::min<std::size_t>(max_frame, UINT32_MAX))) {}

  // `data` begins where the previous step's advance ended. `want_whole(tag)` or
  // `want_whole(tag, total size)` says whether the caller needs the frame's body in one piece
  // (small control messages); other frames stream.
  template <class WantWhole>
  scan_step next(std::string_view data, WantWhole&& want_whole) {
    scan_step s;
    if (remaining_ > 0) {
      if (data.empty()) return s;
      s.what = scan_step::kind::piece;
      s.tag = tag_;
      s.advance = data.size() < remaining_ ? data.size() : remaining_;
      remaining_ -= s.advance;
      s.ends_frame = remaining_ == 0;
      return s;
    }
    frame_header h;
    if (!peek_header(data, h)) return s;
    if (h.total < static_cast<std::int64_t>(frame_header_size)) {
      s.what = scan_step::kind::bad_length;
      return s;
    }
    auto total = static_cast<std::size_t>(h.total);
    if (total > max_frame_) {
      s.what = scan_step::kind::too_large;
      return s;
    }
    s.tag = h.tag;
    s.starts_frame = true;
    bool whole = false;
    if constexpr (std::is_invocable_v<WantWhole, char, std::size_t>) {
      whole = want_whole(h.tag, total);
    } else {
      whole = want_whole(h.tag);
    }
    if (whole) {
      if (data.size() < total) {
        s.wanted = total;
        return s;
      }
      s.what = scan_step::kind::whole;
      s.ends_frame = true;
      s.body = data.substr(frame_header_size, total - frame_header_size);
      s.advance = total;
      return s;
    }
    tag_ = h.tag;
    s.what = scan_step::kind::piece;
    s.advance = data.size() < total ? data.size() : total;
    remaining_ = total - s.advance;
    s.ends_frame = remaining_ == 0;
    return s;
  }

  // The caller consumed the first `taken` bytes of a `total`-byte frame itself (a header it
  // rewrote); the rest streams as pieces of that frame.
  void continue_frame(char tag, std::size_t total, std::size_t taken) {
    tag_ = tag;
    remaining_ = total - taken;
  }

  bool mid_frame() const { return remaining_ > 0; }
  void reset() { remaining_ = 0; }

 private:
  // A frame's length field is 32 bits, so is its limit: the scanner is 16 bytes, and every
  // client keeps one.
  std::size_t remaining_ = 0;
  std::uint32_t max_frame_;
  char tag_ = 0;
};

}  // namespace pgrelay::protocol
