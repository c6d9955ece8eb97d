// byte_stream::try_write_now, the write every relayed byte takes first: over a real socket pair,
// what it sends, when it stops, and what a vanished peer makes of it.
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "byte_stream.hpp"

namespace {

using pgrelay::proxy::byte_stream;
using pgrelay::proxy::error_code;
using pgrelay::proxy::stream_socket;
namespace asio = boost::asio;

struct socket_pair {
  socket_pair() {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    ours.assign(asio::generic::stream_protocol(AF_UNIX, SOCK_STREAM), fds[0]);
    peer = fds[1];
  }
  ~socket_pair() {
    if (peer >= 0) ::close(peer);
  }
  std::string read_peer(std::size_t n) {
    std::string out(n, '\0');
    std::size_t got = 0;
    while (got < n) {
      const auto r = ::read(peer, out.data() + got, n - got);
      REQUIRE(r > 0);
      got += static_cast<std::size_t>(r);
    }
    return out;
  }
  asio::io_context io;
  stream_socket ours{io};
  int peer = -1;
};

}  // namespace

TEST_CASE("try_write_now sends its ranges in order and skips empty ones", "[byte_stream]") {
  socket_pair p;
  byte_stream stream(p.ours);
  const std::string a = "Hello", c = ", world";
  std::vector<asio::const_buffer> ranges{asio::buffer(a), asio::const_buffer(), asio::buffer(c)};
  error_code ec;
  CHECK(stream.try_write_now(ranges, ec) == 12);
  CHECK_FALSE(ec);
  CHECK(p.read_peer(12) == "Hello, world");
  CHECK(stream.try_write_now(asio::const_buffer(), ec) == 0);
  CHECK_FALSE(ec);
}

TEST_CASE("try_write_now sends at most 64 ranges at once, leaving the rest to its caller", "[byte_stream]") {
  socket_pair p;
  byte_stream stream(p.ours);
  const std::string letters(100, 'x');
  std::vector<asio::const_buffer> ranges;
  for (std::size_t i = 0; i < letters.size(); ++i) ranges.push_back(asio::buffer(letters.data() + i, 1));
  error_code ec;
  CHECK(stream.try_write_now(ranges, ec) == 64);
  CHECK_FALSE(ec);
}

TEST_CASE("try_write_now stops without waiting when the socket is full", "[byte_stream]") {
  socket_pair p;
  byte_stream stream(p.ours);
  const std::string chunk(64 * 1024, 'y');
  error_code ec;
  std::size_t sent = 0;
  // A socket pair's buffers hold a few hundred KiB at most: the loop ends long before its bound.
  for (int i = 0; i < 1000; ++i) {
    const auto n = stream.try_write_now(asio::buffer(chunk), ec);
    REQUIRE_FALSE(ec);
    if (n == 0) break;
    sent += n;
  }
  CHECK(sent > 0);
  CHECK(sent < 1000 * chunk.size());
  CHECK(stream.try_write_now(asio::buffer(chunk), ec) == 0);
  CHECK_FALSE(ec);
}

TEST_CASE("try_write_now reports a vanished peer as a broken pipe, without a signal", "[byte_stream]") {
  socket_pair p;
  byte_stream stream(p.ours);
  ::close(p.peer);
  p.peer = -1;
  error_code ec;
  // The process has not ignored SIGPIPE: were it raised, the test run would end here.
  CHECK(stream.try_write_now(asio::buffer(std::string("bye")), ec) == 0);
  CHECK(ec == asio::error::broken_pipe);
}
