// Out of line: a coroutine defined in a header gets a frame type per file, and link-time
// optimization finds the copies differ.
#include "server_io.hpp"

namespace pgrelay::proxy::server_io {

awaitable<error_code> write_all(byte_stream& s, const std::string& data) {
  // As client_session::write_client: what the socket takes at once needs no scheduler round.
  error_code ec;
  const std::size_t now = s.try_write_now(asio::buffer(data), ec);
  if (ec || now == data.size()) co_return ec;
  const auto unwritten = asio::buffer(std::string_view{data}.substr(now));
  auto [wait_ec, n] = co_await s.write(unwritten);
  (void)n;
  co_return wait_ec;
}

}  // namespace pgrelay::proxy::server_io
