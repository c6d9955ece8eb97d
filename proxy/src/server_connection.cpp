// Server login and pgrelay's own internal queries. Client traffic never passes through here:
// client_session relays it with the socket directly.
#include "server_connection.hpp"

#include <poll.h>

#include <boost/asio/ip/tcp.hpp>
#include <vector>

#include "pgrelay/protocol/cursor.hpp"
#include "pgrelay/protocol/errors.hpp"
#include "pgrelay/protocol/frame.hpp"
#include "pgrelay/protocol/md5.hpp"
#include "pgrelay/protocol/messages.hpp"
#include "pgrelay/protocol/scram.hpp"
#include "pgrelay/protocol/writer.hpp"
#include "server_io.hpp"

namespace pgrelay::proxy {
using server_io::fail;
using server_io::from_error_body;
using server_io::write_all;
}  // namespace pgrelay::proxy

namespace pgrelay::proxy {

namespace pr = pgrelay::protocol;

namespace {

awaitable<error_code> connect_socket(stream_socket& socket, const conf::endpoint& ep) {
  if (ep.is_unix()) {
    unix_stream::endpoint uep(ep.unix_path);
    socket.open(asio::generic::stream_protocol(AF_UNIX, 0));
    auto [ec] = co_await socket.async_connect(asio::generic::stream_protocol::endpoint(uep), use_tuple);
    co_return ec;
  }
  tcp::resolver resolver(socket.get_executor());
  const std::string port = std::to_string(ep.port);
  auto [rec, results] = co_await resolver.async_resolve(ep.host, port, use_tuple);
  if (rec) co_return rec;
  error_code last = asio::error::host_not_found;
  for (const auto& r : results) {
    tcp_socket s(socket.get_executor());
    auto [ec] = co_await s.async_connect(r.endpoint(), use_tuple);
    if (ec) {
      last = ec;
      continue;
    }
    s.set_option(tcp::no_delay(true));
    socket = stream_socket(std::move(s));
    co_return error_code{};
  }
  co_return last;
}

}  // namespace

awaitable<void> server_connection::settle_idle_read() {
  while (idle_read_->standing) {
    stream_.cancel();
    co_await asio::post(socket_.get_executor(), use_awaitable);
  }
}

awaitable<bool> server_connection::read_frame(char& tag, std::string& body) {
  if (idle_read_->standing) co_await settle_idle_read();
  for (;;) {
    auto r = pr::decode_frame(read_buf_.data(), 64u << 20);
    if (r.status == pr::decode_status::ok) {
      tag = r.msg.tag;
      body.assign(r.msg.body);
      read_buf_.consume(r.msg.size());
      co_return true;
    }
    if (r.status != pr::decode_status::need_more) {
      broken_ = true;
      co_return false;
    }
    std::size_t room = 0;
    char* at = read_buf_.prepare(4096, room);
    auto [ec, n] = co_await stream_.read_some(asio::buffer(at, room));
    if (ec) {
      broken_ = true;
      co_return false;
    }
    read_buf_.commit(n);
  }
}

awaitable<server_error> server_connection::negotiate_tls(const server_target& target) {
  using mode = conf::server_tls_mode;
  // Like libpq, no TLS over a Unix socket: the kernel already keeps the bytes local.
  if (!target.tls || !target.tls->towards_servers || target.address.is_unix()) co_return server_error{};
  const mode m = target.tls->server_mode;
  std::string request;
  pr::build::ssl_request(request);
  if (auto ec = co_await write_all(stream_, request)) co_return fail(pr::sqlstate::connection_failure, ec.message());
  // Exactly one byte: anything after 'S' is the server's TLS handshake.
  char answer = 0;
  auto [ec, n] = co_await socket_.async_read_some(asio::buffer(&answer, 1), use_tuple);
  if (ec || n != 1) co_return fail(pr::sqlstate::connection_failure, "server closed the connection during TLS negotiation");
  if (answer == 'N') {
    if (m == mode::prefer) co_return server_error{};
    co_return fail(pr::sqlstate::connection_failure,
                   "server " + target.address.to_string() + " does not support TLS, and tls.server.mode is " +
                       conf::to_string(m));
  }
  if (answer != 'S') {
    co_return fail(pr::sqlstate::protocol_violation, "unexpected answer to SSLRequest from server");
  }
  const bool verify = m == mode::verify_ca || m == mode::verify_full;
  const std::string host = m == mode::verify_full ? target.address.host : std::string{};
  if (auto hec = co_await stream_.connect_tls(target.tls, verify, host)) {
    co_return fail(pr::sqlstate::connection_failure, "TLS handshake with server " + target.address.to_string() +
                                                         " failed (tls.server.mode " + conf::to_string(m) +
                                                         "): " + hec.message());
  }
  co_return server_error{};
}

awaitable<core::cancel_outcome> server_connection::send_cancel(const server_target& target, std::int32_t pid,
                                                               const std::string& key) {
  using core::cancel_outcome;
  address_ = target.address;
  if (co_await connect_socket(socket_, target.address)) co_return cancel_outcome::dropped;
  if (co_await negotiate_tls(target)) co_return cancel_outcome::dropped;
  std::string out;
  pr::build::cancel_request(out, pid, key);
  // A short write leaves the postmaster a packet it discards: nothing is signalled.
  if (co_await write_all(stream_, out)) co_return cancel_outcome::dropped;
  // The postmaster closes the connection after signalling the backend, and says nothing else.
  char byte = 0;
  (void)co_await stream_.read_some(asio::buffer(&byte, 1));
  co_return cancel_outcome::delivered;
}

awaitable<server_error> server_connection::open(const server_target& target, millis timeout) {
  address_ = target.address;
  if (target.needs_keys && !target.passthrough) {
    broken_ = true;
    co_return fail(pr::sqlstate::invalid_authorization,
                   "no client of role \"" + target.user + "\" has logged in yet: pass-through has no keys to log in with");
  }
  auto attempt = [this, &target]() -> awaitable<server_error> {
    if (auto ec = co_await connect_socket(socket_, target.address)) {
      co_return fail(pr::sqlstate::connection_failure,
                     "could not connect to server " + target.address.to_string() + ": " + ec.message());
    }
    if (auto err = co_await negotiate_tls(target)) co_return err;
    std::string out;
    std::vector<std::pair<std::string_view, std::string_view>> params = {
        {"user", target.user}, {"database", target.database}};
    for (const auto& [k, v] : target.extra_params) params.emplace_back(k, v);
    pr::build::startup_message(out, params);
    if (auto ec = co_await write_all(stream_, out)) co_return fail(pr::sqlstate::connection_failure, ec.message());
    if (auto err = co_await authenticate(target)) co_return err;
    co_return co_await read_until_ready();
  };
  auto r = co_await with_timeout<server_error>(attempt(), timeout);
  if (!r) {
    close();
    co_return fail(pr::sqlstate::connection_failure,
                   "timed out connecting to server " + target.address.to_string());
  }
  if (*r) close();
  settings_.baseline = reported_;
  created_ = last_used_ = clock::now();
  co_return *r;
}

awaitable<server_error> server_connection::read_until_ready() {
  std::string body;
  char tag = 0;
  server_error pending;
  for (;;) {
    if (!co_await read_frame(tag, body)) {
      // A server that said why it is closing (FATAL 57P03 …) is reported with its own words.
      if (pending) co_return pending;
      co_return fail(pr::sqlstate::connection_failure, "server closed the connection");
    }
    switch (tag) {
      case 'S': {
        pr::parameter_status_view ps;
        if (pr::parse_parameter_status(body, ps)) note_parameter(ps.name, ps.value);
        break;
      }
      case 'K': {
        pr::backend_key_data_view k;
        if (pr::parse_backend_key_data(body, k)) {
          backend_pid_ = k.pid;
          backend_key_.assign(k.secret);
        }
        break;
      }
      case 'E':
        if (!pending) pending = from_error_body(body);
        break;
      case 'Z': {
        char st = 'I';
        (void)pr::parse_ready_for_query(body, st);
        tracker_.on_server_frame('Z', st);
        co_return pending;
      }
      case 'D': {
        ++internal_rows_;
        // Values of internal queries' rows, text format: int16 n, then n × (int32 len, bytes).
        pr::cursor c(body);
        auto n = c.i16();
        for (std::int16_t i = 0; i < n && !c.failed(); ++i) {
          auto len = c.i32();
          internal_values_.emplace_back(len < 0 ? std::string_view{} : c.bytes(static_cast<std::size_t>(len)));
        }
        break;
      }
      default: break;  // notices, command completions
    }
  }
}

awaitable<server_error> server_connection::run_internal(std::string sql, millis timeout) {
  std::string out;
  pr::build::query(out, sql);
  tracker_.on_client_frame('Q');
  co_return co_await send_and_read(out, timeout);
}

awaitable<server_error> server_connection::run_bound(std::string_view sql, std::span<const std::string_view> params,
                                                     millis timeout) {
  std::string out;
  pr::build::parse(out, "", sql);
  pr::build::bind_text(out, "", "", params);
  pr::build::execute(out, "");
  pr::build::sync(out);
  tracker_.on_client_frame('S');
  co_return co_await send_and_read(out, timeout);
}

awaitable<server_error> server_connection::send_and_read(const std::string& out, millis timeout) {
  internal_rows_ = 0;
  internal_values_.clear();
  if (auto ec = co_await write_all(stream_, out)) {
    broken_ = true;
    co_return fail(pr::sqlstate::connection_failure, ec.message());
  }
  // The deadline cancels the read instead of racing a timer with `||`, which cost a coroutine
  // spawn and a parallel group for every write transaction's commit-position query. The flags
  // outlive this frame: a timer completion already queued when the frame ends sees `done`.
  struct deadline_state {
    bool done = false;
    bool expired = false;
  };
  auto state = std::make_shared<deadline_state>();
  struct done_on_exit {
    deadline_state& s;
    ~done_on_exit() { s.done = true; }
  } guard{*state};
  std::optional<io_timer> timer;
  if (timeout.count() > 0) {
    timer.emplace(socket_.get_executor(), timeout);
    timer->async_wait([this, state](error_code ec) {
      if (ec || state->done) return;
      state->expired = true;
      stream_.cancel();
    });
  }
  auto r = co_await read_until_ready();
  if (r && state->expired) {
    broken_ = true;
    co_return fail(pr::sqlstate::connection_failure, "server did not answer in time");
  }
  co_return r;
}

void server_connection::note_parameter(std::string_view name, std::string_view value) {
  auto key = core::normalize_param_name(name);
  reported_[key] = std::string(value);
  reported_names_[key] = std::string(name);
}

bool server_connection::looks_dead() const {
  if (broken_ || !socket_.is_open()) return true;
  if (!read_buf_.empty()) return true;
  if (auto* ssl = stream_.native(); ssl && SSL_pending(ssl) > 0) return true;
  if (idle_read_->standing) return false;  // nothing has come since the pool put it idle
  pollfd p{};
  p.fd = const_cast<stream_socket&>(socket_).native_handle();
  p.events = POLLIN | POLLRDHUP;
  int n = ::poll(&p, 1, 0);
  return n != 0;
}

void server_connection::watch_idle() {
  if (idle_read_->standing || broken_ || !socket_.is_open() || read_buf_.read_pending()) return;
  std::size_t room = 0;
  char* at = read_buf_.prepare(16384, room);
  read_buf_.set_read_pending(true);
  idle_read_->standing = true;
  stream_.async_read_some(asio::buffer(at, room), [watch = idle_read_](error_code ec, std::size_t n) {
    watch->standing = false;
    if (auto* server = watch->owner) {
      server->read_buf_.commit(n);
      server->read_buf_.set_read_pending(false);
      if (ec && ec != asio::error::operation_aborted) server->broken_ = true;
    }
    if (auto* taker = std::exchange(watch->taker, nullptr)) {
      auto keep = std::move(watch->keep);
      taker->server_read_done(ec, n);
    }
  });
}

bool server_connection::take_idle_read(server_read_taker& taker, std::shared_ptr<void> keep) {
  auto& read = *idle_read_;
  if (!read.standing || read.taker) return false;
  read.taker = &taker;
  read.keep = std::move(keep);
  return true;
}

void server_connection::close() {
  error_code ignored;
  if (socket_.is_open()) {
    std::string out;
    if (!broken_) {
      pr::build::terminate(out);
      stream_.write_now(asio::buffer(out));
    }
    socket_.shutdown(stream_socket::shutdown_both, ignored);
    socket_.close(ignored);
  }
  broken_ = true;
}

}  // namespace pgrelay::proxy
