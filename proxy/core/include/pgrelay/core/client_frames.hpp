// Walks the bytes a client sends towards its server frame by frame and says, for each step,
// whether the server gets it or pgrelay drops it, and whether a frame is cut between what went
// out and what is still to come. Pure: the relay feeds bytes and the link's request_tracker.
#pragma once

#include <string_view>
#include <type_traits>

#include "pgrelay/core/request_tracker.hpp"
#include "pgrelay/protocol/frame_scanner.hpp"

namespace pgrelay::core {

// CopyData, CopyDone and CopyFail that arrive when no COPY is running are read whole and
// ignored by Postgres (a client still streaming after its COPY failed sends them). pgrelay
// drops them itself when the server can be neither in nor entering copy-in mode: nothing is
// owed to the client and no COPY is open. Such a frame then never binds a server to its client.
inline bool is_copy_frame_tag(char tag) { return tag == 'd' || tag == 'c' || tag == 'f'; }
inline bool postgres_ignores(char tag, const request_tracker& tracker) {
  return is_copy_frame_tag(tag) && tracker.awaiting_client();
}

class client_frame_cursor {
 public:
  struct step {
    protocol::scan_step scan;
    bool drop = false;  // pgrelay consumes these bytes; the server never sees them
  };

  explicit client_frame_cursor(std::size_t max_frame = protocol::default_max_frame) : scanner_(max_frame) {}

  // `data` begins where the previous step's advance ended; `tracker` is the state of the server
  // the bytes would go to (a fresh tracker when the client holds none).
  template <class WantWhole>
  step next(std::string_view data, const request_tracker& tracker, WantWhole&& want_whole) {
    step s;
    const bool continuing = scanner_.mid_frame();
    s.scan = scanner_.next(data, [&](char tag, std::size_t total) {
      if (postgres_ignores(tag, tracker)) return false;
      if constexpr (std::is_invocable_v<WantWhole, char, std::size_t>) {
        return want_whole(tag, total);
      } else {
        return want_whole(tag);
      }
    });
    if (continuing) {
      s.drop = dropping_;
    } else if (s.scan.starts_frame) {
      s.drop = dropping_ = postgres_ignores(s.scan.tag, tracker);
    }
    if (s.scan.ends_frame) dropping_ = false;
    return s;
  }

  // The relay rewrote the first `taken` bytes of a `total`-byte frame (a Bind's head) and sends
  // the rest as it arrives.
  void continue_frame(char tag, std::size_t total, std::size_t taken) {
    scanner_.continue_frame(tag, total, taken);
    dropping_ = false;
  }

  // Part of a frame went to the server and the rest has not: the server must stay with this
  // client until the frame ends, and is never lent on if the client leaves now.
  bool mid_forwarded_frame() const { return scanner_.mid_frame() && !dropping_; }
  bool mid_frame() const { return scanner_.mid_frame(); }
  // Inside a frame pgrelay drops: no server is bound by it.
  bool mid_dropped_frame() const { return scanner_.mid_frame() && dropping_; }
  // The rest of the frame under way is dropped: its server is gone (closed mid-frame).
  void drop_rest_of_frame() {
    if (scanner_.mid_frame()) dropping_ = true;
  }
  void reset() {
    scanner_.reset();
    dropping_ = false;
  }

 private:
  protocol::frame_scanner scanner_;
  bool dropping_ = false;
};

}  // namespace pgrelay::core
