// The blocking pool's single instance; joined when the process exits.
#include "blocking_work.hpp"

namespace pgrelay::proxy {

asio::thread_pool& blocking_pool() {
  static asio::thread_pool pool(2);
  return pool;
}

std::atomic<std::uint64_t>& pbkdf2_computations() {
  static std::atomic<std::uint64_t> n{0};
  return n;
}

}  // namespace pgrelay::proxy
