// Fuzzes decode_frame and the streaming frame_scanner over the same byte stream. Input: byte 0
// picks the frame cap and which tags the scanner wants whole, byte 1 seeds the chunk sizes the
// stream arrives in; the rest is the stream. Invariants: frames never exceed the input or the cap,
// re-encoding a frame reproduces its bytes, and the scanner (fed in chunks) sees exactly the frames
// and the terminal error that decode_frame sees on the whole stream.
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "pgrelay/protocol/frame.hpp"
#include "pgrelay/protocol/frame_scanner.hpp"
#include "pgrelay/protocol/writer.hpp"

namespace pr = pgrelay::protocol;
using pgrelay::fuzz::within;

namespace {

enum class end_kind { need_more, bad_length, too_large };

struct frame_seen {
  char tag;
  std::size_t size;
  bool operator==(const frame_seen&) const = default;
};

struct walk {
  std::vector<frame_seen> frames;
  end_kind end = end_kind::need_more;
};

walk decode_all(std::string_view stream, std::size_t max_frame) {
  walk w;
  std::string reencoded;
  while (true) {
    auto r = pr::decode_frame(stream, max_frame);
    if (r.status == pr::decode_status::bad_length) {
      w.end = end_kind::bad_length;
      return w;
    }
    if (r.status == pr::decode_status::too_large) {
      w.end = end_kind::too_large;
      return w;
    }
    if (r.status == pr::decode_status::need_more) {
      FUZZ_CHECK(r.wanted == 0 || (r.wanted > stream.size() && r.wanted <= max_frame));
      return w;
    }
    FUZZ_CHECK(r.msg.size() == r.wanted);
    FUZZ_CHECK(r.msg.size() <= stream.size() && r.msg.size() <= max_frame);
    FUZZ_CHECK(within(r.msg.body, stream));
    FUZZ_CHECK(r.msg.tag == stream[0]);
    reencoded.clear();
    pr::message_writer(reencoded).begin(r.msg.tag).bytes(r.msg.body).end();
    FUZZ_CHECK(reencoded == stream.substr(0, r.msg.size()));
    w.frames.push_back({r.msg.tag, r.msg.size()});
    stream.remove_prefix(r.msg.size());
  }
}

walk scan_in_chunks(std::string_view stream, std::size_t max_frame, std::uint8_t whole_mask,
                    std::uint8_t chunk_seed) {
  walk w;
  pr::frame_scanner scanner(max_frame);
  auto want_whole = [whole_mask](char tag) {
    return ((whole_mask >> (static_cast<unsigned char>(tag) % 8)) & 1) != 0;
  };
  std::size_t delivered = 0;   // bytes of `stream` handed to the scanner so far
  std::size_t consumed = 0;    // bytes the scanner advanced over
  std::size_t frame_start = 0;
  char frame_tag = 0;
  unsigned chunk = chunk_seed;
  while (true) {
    auto pending = stream.substr(consumed, delivered - consumed);
    auto s = scanner.next(pending, want_whole);
    FUZZ_CHECK(s.advance <= pending.size());
    switch (s.what) {
      case pr::scan_step::kind::bad_length:
        w.end = end_kind::bad_length;
        return w;
      case pr::scan_step::kind::too_large:
        w.end = end_kind::too_large;
        return w;
      case pr::scan_step::kind::need_more: {
        FUZZ_CHECK(s.advance == 0);
        FUZZ_CHECK(s.wanted == 0 || s.wanted > pending.size());
        if (delivered == stream.size()) return w;
        chunk = chunk * 1103515245u + 12345u;
        std::size_t n = 1 + (chunk >> 16) % 64;
        delivered = std::min(stream.size(), delivered + n);
        continue;
      }
      case pr::scan_step::kind::whole:
        FUZZ_CHECK(s.starts_frame && s.ends_frame);
        FUZZ_CHECK(within(s.body, pending));
        FUZZ_CHECK(s.advance == s.body.size() + pr::frame_header_size);
        break;
      case pr::scan_step::kind::piece:
        FUZZ_CHECK(s.advance > 0);
        break;
    }
    if (s.starts_frame) {
      frame_start = consumed;
      frame_tag = s.tag;
    } else {
      FUZZ_CHECK(s.tag == frame_tag);
    }
    consumed += s.advance;
    if (s.ends_frame) {
      FUZZ_CHECK(!scanner.mid_frame());
      w.frames.push_back({frame_tag, consumed - frame_start});
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t mode = data[0];
  const std::uint8_t chunk_seed = data[1];
  auto stream = pgrelay::fuzz::as_view(data + 2, size - 2);
  // Small caps make too_large reachable; the default cap is exercised too.
  const std::size_t caps[] = {pr::frame_header_size, 16, 1024, pr::default_max_frame};
  const std::size_t max_frame = caps[mode & 3];

  auto decoded = decode_all(stream, max_frame);
  auto scanned = scan_in_chunks(stream, max_frame, static_cast<std::uint8_t>(mode >> 2 | 1),
                                chunk_seed);
  FUZZ_CHECK(decoded.end == scanned.end);
  // A frame counts once its last byte is consumed; the scanner may also have streamed out the
  // start of a final incomplete frame, which neither side counts.
  FUZZ_CHECK(scanned.frames == decoded.frames);
  return 0;
}
