// Out of line: a coroutine defined in a header gets a frame type per file, and link-time
// optimization finds the copies differ.
#include "server_io.hpp"

namespace pgrelay::proxy::server_io {

awaitable<error_code> write_all(byte_stream& s, const std::string& data) {
  auto [ec, n] = co_await s.write(asio::buffer(data));
  (void)n;
  co_return ec;
}

}  // namespace pgrelay::proxy::server_io
