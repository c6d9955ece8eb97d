// When to hand the heap's free pages back to the system (glibc's malloc_trim). A burst of logins
// leaves the kilobytes each login in flight used (coroutine frames, SCRAM state, buffers) free
// but resident, in holes between memory that stays (Asio's socket state, pools); free() only
// gives back the top of the heap. Trimming walks the free chunks and releases whole pages, so it
// is worth doing after a burst, not after every login.
#pragma once

#include <cstdint>

namespace pgrelay::core {

class heap_trim_policy {
 public:
  // Logins since the last trim below which a trim gains too little to be worth its walk.
  static constexpr std::uint64_t min_logins = 100;
  // Logins since the last trim after which it trims even while logins are in flight (a steady
  // stream of connections never goes quiet).
  static constexpr std::uint64_t burst_logins = 1000;

  // Asked at each sweep: `logins` counts every login begun since start, `in_flight` the logins
  // not finished now. True: trim now (and count from here).
  bool due(std::uint64_t logins, std::uint64_t in_flight) {
    const std::uint64_t since = logins - trimmed_at_;
    if (since < min_logins || (in_flight != 0 && since < burst_logins)) return false;
    trimmed_at_ = logins;
    return true;
  }

 private:
  std::uint64_t trimmed_at_ = 0;
};

}  // namespace pgrelay::core
