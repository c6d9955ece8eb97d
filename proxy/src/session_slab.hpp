// Where client sessions live: fixed-size slots carved from blocks of their own, never from the
// heap that logins use. A login allocates and frees some kilobytes (coroutine frames, SCRAM state,
// buffers); a session allocated from the same heap in the middle of a burst of logins pins the
// pages around it, and every login in flight at the burst's end leaves its kilobytes free but
// resident (bench/idle_malloc.py; README, "Memory after a burst of logins"). Slots are also 8
// bytes smaller than malloc's chunk. Freed slots are reused; blocks are kept for the process's life,
// as PgBouncer's slabs are.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

namespace pgrelay::proxy {

class fixed_slab {
 public:
  fixed_slab(std::size_t slot, std::size_t align) : slot_(round_up(slot, align)), align_(align) {}
  fixed_slab(const fixed_slab&) = delete;
  fixed_slab& operator=(const fixed_slab&) = delete;

  void* allocate() {
    std::lock_guard lock(mutex_);
    if (free_) {
      void* p = free_;
      free_ = free_->next;
      return p;
    }
    // Carved as asked for, not linked in advance: a block's pages are touched as slots are used.
    if (left_ < slot_) new_block();
    void* p = next_;
    next_ += slot_;
    left_ -= slot_;
    return p;
  }

  void deallocate(void* p) noexcept {
    std::lock_guard lock(mutex_);
    free_ = ::new (p) free_slot{free_};
  }

 private:
  struct free_slot {
    free_slot* next;
  };
  static constexpr std::size_t block_bytes = 256 * 1024;
  static std::size_t round_up(std::size_t n, std::size_t a) {
    n = n < sizeof(free_slot) ? sizeof(free_slot) : n;
    return (n + a - 1) / a * a;
  }
  void new_block() {
    const std::size_t bytes = block_bytes < slot_ ? slot_ : block_bytes;
    blocks_.emplace_back(static_cast<std::byte*>(::operator new(bytes, std::align_val_t{align_})),
                         block_deleter{align_});
    next_ = blocks_.back().get();
    left_ = bytes;
  }
  struct block_deleter {
    std::size_t align;
    void operator()(std::byte* p) const noexcept { ::operator delete(p, std::align_val_t{align}); }
  };

  const std::size_t slot_;
  const std::size_t align_;
  std::mutex mutex_;
  free_slot* free_ = nullptr;
  std::byte* next_ = nullptr;
  std::size_t left_ = 0;
  std::vector<std::unique_ptr<std::byte[], block_deleter>> blocks_;
};

// Under AddressSanitizer sessions come from the heap, where it sees each one's use after free.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool sessions_in_slab = false;
#else
inline constexpr bool sessions_in_slab = true;
#endif

// An allocator for std::allocate_shared: one slab per type the shared pointer's control block
// rebinds it to. The slab is never destroyed, so a session that ends during static destruction
// still has it.
template <class T>
struct slab_allocator {
  using value_type = T;
  slab_allocator() = default;
  template <class U>
  slab_allocator(const slab_allocator<U>&) noexcept {}

  static fixed_slab& slab() {
    static fixed_slab* s = new fixed_slab(sizeof(T), alignof(T));
    return *s;
  }
  T* allocate(std::size_t n) {
    if (n != 1 || !sessions_in_slab) return std::allocator<T>().allocate(n);
    return static_cast<T*>(slab().allocate());
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (n != 1 || !sessions_in_slab) return std::allocator<T>().deallocate(p, n);
    slab().deallocate(p);
  }
  template <class U>
  bool operator==(const slab_allocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace pgrelay::proxy
