// A connection's byte stream: the plain socket, or TLS over it once a handshake succeeded. Reads
// and writes hand back Asio's own awaitables (no extra coroutine frame on the hot path), so the
// relay is the same code for both. The socket stays the caller's, for options, cancel and close.
#pragma once

#include <sys/uio.h>

#include <array>
#include <boost/asio/ssl.hpp>
#include <memory>
#include <string>
#include <tuple>

#include "net.hpp"
#include "tls.hpp"

namespace pgrelay::proxy {

using stream_socket = asio::basic_stream_socket<asio::generic::stream_protocol, io_executor>;

class byte_stream {
 public:
  explicit byte_stream(stream_socket& socket) : socket_(&socket) {}
  byte_stream(const byte_stream&) = delete;  // points into its owner
  byte_stream& operator=(const byte_stream&) = delete;

  bool encrypted() const { return tls_ != nullptr; }

  template <class MutableBuffer>
  awaitable<std::tuple<error_code, std::size_t>> read_some(const MutableBuffer& buffer) {
    if (tls_) return tls_->stream.async_read_some(buffer, use_tuple);
    return socket_->async_read_some(buffer, use_tuple);
  }

  // Writes every byte of `buffers` (a buffer or a sequence of them).
  template <class ConstBuffers>
  awaitable<std::tuple<error_code, std::size_t>> write(const ConstBuffers& buffers) {
    if (tls_) return asio::async_write(tls_->stream, buffers, use_tuple);
    return asio::async_write(*socket_, buffers, use_tuple);
  }

  // The same with a completion handler, for the relay's hand-rolled I/O (no coroutine per read).
  template <class MutableBuffer, class Handler>
  void async_read_some(const MutableBuffer& buffer, Handler&& handler) {
    if (tls_) {
      tls_->stream.async_read_some(buffer, std::forward<Handler>(handler));
    } else {
      socket_->async_read_some(buffer, std::forward<Handler>(handler));
    }
  }
  template <class ConstBuffers, class Handler>
  void async_write(const ConstBuffers& buffers, Handler&& handler) {
    if (tls_) {
      asio::async_write(tls_->stream, buffers, std::forward<Handler>(handler));
    } else {
      asio::async_write(*socket_, buffers, std::forward<Handler>(handler));
    }
  }

  // Stops pending reads and writes (they complete with operation_aborted). A read stopped this
  // way leaves TLS usable: no record was half taken. A stopped write may have sent part of a
  // message, so the connection must not carry on after that.
  void cancel() {
    error_code ignored;
    socket_->cancel(ignored);
  }

  // Writes what the kernel takes now, without waiting and without the reactor: a relay's small
  // answers almost always fit in the socket buffer, and an asynchronous write then costs an
  // operation, a queued completion and a coroutine resume for nothing. Plain sockets only (a TLS
  // record cannot be half written and resumed later by another call); 0 with `ec` clear when
  // nothing was attempted or the socket is full. At most `max_gather` ranges go out per call, as
  // with Asio's own writes: the caller writes what is left like any rest of a short write.
  template <class ConstBuffers>
  std::size_t try_write_now(const ConstBuffers& buffers, error_code& ec) {
    ec.clear();
    if (tls_) return 0;
    std::array<iovec, max_gather> ranges;
    std::size_t count = 0;
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it) {
      const asio::const_buffer range(*it);
      if (range.size() == 0) continue;
      if (count == ranges.size()) break;
      ranges[count++] = {const_cast<void*>(range.data()), range.size()};
    }
    return count == 0 ? 0 : send_now(ranges.data(), count, ec);
  }

  // Best effort, without waiting: for a last message (Terminate) before close.
  void write_now(asio::const_buffer bytes) {
    error_code ignored;
    socket_->non_blocking(true, ignored);
    if (tls_) {
      tls_->stream.write_some(bytes, ignored);
    } else {
      socket_->write_some(bytes, ignored);
    }
  }

  // pgrelay as the TLS server (a client sent SSLRequest and was told 'S'), with the contexts'
  // towards_clients.
  awaitable<error_code> accept_tls(tls_ptr contexts) {
    auto& ctx = *contexts->towards_clients;
    tls_ = std::make_unique<tls_part>(std::move(contexts), *socket_, ctx);
    auto [ec] = co_await tls_->stream.async_handshake(asio::ssl::stream_base::server, use_tuple);
    co_return ec;
  }

  // pgrelay as the TLS client towards Postgres, with the contexts' towards_servers. `verify_host`
  // empty: no name check; `verify` false: no certificate check at all (sslmode prefer/require).
  awaitable<error_code> connect_tls(tls_ptr contexts, bool verify, const std::string& verify_host) {
    auto& ctx = *contexts->towards_servers;
    tls_ = std::make_unique<tls_part>(std::move(contexts), *socket_, ctx);
    if (verify) {
      tls_->stream.set_verify_mode(asio::ssl::verify_peer);
      if (!verify_host.empty()) tls_->stream.set_verify_callback(asio::ssl::host_name_verification(verify_host));
    } else {
      tls_->stream.set_verify_mode(asio::ssl::verify_none);
    }
    auto [ec] = co_await tls_->stream.async_handshake(asio::ssl::stream_base::client, use_tuple);
    co_return ec;
  }

  // The session's SSL object, for the protocol version and cipher in logs.
  SSL* native() const { return tls_ ? tls_->stream.native_handle() : nullptr; }
  // The contexts the TLS stream was made from; null while plain.
  const tls_ptr& contexts() const {
    static const tls_ptr plain;
    return tls_ ? tls_->contexts : plain;
  }

 private:
  // The TLS stream and what keeps its contexts alive, in one allocation that a plain connection
  // never makes.
  struct tls_part {
    tls_part(tls_ptr c, stream_socket& socket, asio::ssl::context& ctx) : contexts(std::move(c)), stream(socket, ctx) {}
    tls_ptr contexts;
    asio::ssl::stream<stream_socket&> stream;
  };
  static constexpr std::size_t max_gather = 64;

  // One non-blocking sendmsg of `count` ranges, as a direct system call.
  std::size_t send_now(const iovec* ranges, std::size_t count, error_code& ec);

  stream_socket* socket_;
  std::unique_ptr<tls_part> tls_;
};

}  // namespace pgrelay::proxy
