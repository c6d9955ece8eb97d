// A growable read buffer with a consumed head: reads land in the spare tail, frames are
// consumed from the head, and the rest is moved to the front only when room runs out.
#pragma once

#include <cstring>
#include <memory>
#include <string_view>

namespace pgrelay::proxy {

class byte_buffer {
 public:
  explicit byte_buffer(std::size_t initial = 8192) : initial_(initial) {}

  std::string_view data() const { return {store_.get() + head_, tail_ - head_}; }
  std::size_t size() const { return tail_ - head_; }
  bool empty() const { return head_ == tail_; }

  // Spare room of at least `min` bytes at the tail (compacting or growing as needed). Storage is
  // not zeroed: only committed bytes are ever read, and zeroing a login's buffer and a server's
  // 64 KiB cost more than the rest of their setup.
  char* prepare(std::size_t min, std::size_t& room) {
    if (!store_) {
      cap_ = std::max(initial_, min);
      store_ = std::make_unique_for_overwrite<char[]>(cap_);
    }
    if (cap_ - tail_ < min) {
      if (head_ > 0) {
        std::memmove(store_.get(), store_.get() + head_, tail_ - head_);
        tail_ -= head_;
        head_ = 0;
      }
      if (cap_ - tail_ < min) {
        auto bigger = std::max(cap_ * 2, tail_ + min);
        auto fresh = std::make_unique_for_overwrite<char[]>(bigger);
        std::memcpy(fresh.get(), store_.get(), tail_);
        store_ = std::move(fresh);
        cap_ = bigger;
      }
    }
    room = cap_ - tail_;
    return store_.get() + tail_;
  }
  void commit(std::size_t n) { tail_ += n; }
  void consume(std::size_t n) {
    head_ += n;
    if (head_ == tail_ && !read_pending_ && !hold_) head_ = tail_ = 0;
  }
  // While held, consumed bytes stay where they are (views of them stay valid) until prepare()
  // needs their room; would_disturb() says beforehand whether it will.
  void hold_consumed(bool hold) {
    hold_ = hold;
    if (!hold && head_ == tail_ && !read_pending_) head_ = tail_ = 0;
  }
  // True when release_if_empty() (if `releasing`) or prepare(min) would free, move or reuse the
  // bytes before the tail.
  bool would_disturb(std::size_t min, bool releasing) const {
    return (releasing && empty() && !read_pending_ && cap_ > initial_) || !store_ || cap_ - tail_ < min;
  }
  // While a read into the spare tail (from prepare) is in flight, the storage must not move or
  // be freed and the cursors must not be reset under it; prepare must not be called.
  void set_read_pending(bool pending) {
    read_pending_ = pending;
    if (!pending && head_ == tail_ && !hold_) head_ = tail_ = 0;
  }
  bool read_pending() const { return read_pending_; }
  void append(std::string_view s) {
    std::size_t room = 0;
    std::memcpy(prepare(s.size(), room), s.data(), s.size());
    commit(s.size());
  }
  // Frees the storage of an empty buffer, even of its initial size: a parked session's.
  void release() {
    if (empty() && !read_pending_ && !hold_) {
      store_.reset();
      cap_ = 0;
      head_ = tail_ = 0;
    }
  }
  // Frees the storage of an empty buffer so idle connections cost little memory.
  void release_if_empty() {
    if (empty() && !read_pending_ && !hold_ && cap_ > initial_) {
      store_.reset();
      cap_ = 0;
    }
  }

 private:
  std::unique_ptr<char[]> store_;
  std::size_t initial_;
  std::size_t cap_ = 0;
  std::size_t head_ = 0;
  std::size_t tail_ = 0;
  bool read_pending_ = false;
  bool hold_ = false;
};

}  // namespace pgrelay::proxy
