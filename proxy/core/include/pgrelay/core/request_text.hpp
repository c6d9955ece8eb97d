// The text of a request's first Query or Parse, for the slow-request log. While the request
// runs it is a view into the client's read buffer, so the usual request copies nothing; the
// driver asks for a copy when the buffer needs that room, or when it logs.
#pragma once

#include <string>
#include <string_view>

namespace pgrelay::core {

class request_text {
 public:
  // Up to this many bytes of the statement are kept.
  static constexpr std::size_t kept_bytes = 2000;

  // A whole client frame `tag` with `body` starts. True when this is the request's first Query
  // or Parse and is now viewed: the driver must keep the buffer's consumed bytes in place.
  bool note_frame(char tag, std::string_view body) {
    if (tag_ != 0 || (tag != 'Q' && tag != 'P')) return false;
    tag_ = tag;
    body_ = body;
    return true;
  }
  // A view into the read buffer is held (note_frame answered true, keep() not called since).
  bool viewing() const { return tag_ == 'Q' || tag_ == 'P'; }
  // Copies the statement out of the read buffer; the view is given up.
  void keep();
  // The kept statement; empty when there was none, or it was not a well-formed Query or Parse.
  std::string_view kept() const { return copy_; }
  // The request is over (or its bytes are about to move): ready for the next one.
  void end() {
    tag_ = 0;
    body_ = {};
    copy_.clear();
  }
  // end(), and the copy's storage is freed: an idle session keeps none.
  void release() {
    end();
    std::string().swap(copy_);
  }
  // Heap bytes the copy's storage holds (0 when it fits in the string itself).
  std::size_t held_bytes() const { return copy_.capacity() > std::string().capacity() ? copy_.capacity() : 0; }

 private:
  char tag_ = 0;  // 0: none yet; 'Q' or 'P': viewing body_; 'c': copied to copy_
  std::string_view body_;
  std::string copy_;
};

}  // namespace pgrelay::core
