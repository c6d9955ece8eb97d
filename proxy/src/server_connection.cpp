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

namespace pgrelay::proxy {

namespace pr = pgrelay::protocol;

namespace {

awaitable<error_code> write_all(byte_stream& s, const std::string& data) {
  auto [ec, n] = co_await s.write(asio::buffer(data));
  (void)n;
  co_return ec;
}

server_error fail(std::string_view code, std::string message) {
  return server_error{std::string(code), std::move(message)};
}

server_error from_error_body(std::string_view body) {
  pr::error_fields f;
  if (!pr::parse_error_fields(body, f)) return fail(pr::sqlstate::protocol_violation, "malformed error from server");
  return server_error{f.code.empty() ? std::string(pr::sqlstate::connection_failure) : std::string(f.code),
                      std::string(f.message)};
}

awaitable<error_code> connect_socket(stream_socket& socket, const conf::endpoint& ep) {
  if (ep.is_unix()) {
    unix_stream::endpoint uep(ep.unix_path);
    socket.open(asio::generic::stream_protocol(AF_UNIX, 0));
    auto [ec] = co_await socket.async_connect(asio::generic::stream_protocol::endpoint(uep), use_tuple);
    co_return ec;
  }
  tcp::resolver resolver(socket.get_executor());
  auto [rec, results] = co_await resolver.async_resolve(ep.host, std::to_string(ep.port), use_tuple);
  if (rec) co_return rec;
  error_code last = asio::error::host_not_found;
  for (const auto& r : results) {
    tcp::socket s(socket.get_executor());
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

awaitable<bool> server_connection::read_frame(char& tag, std::string& body) {
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
  tls_ = target.tls;
  const bool verify = m == mode::verify_ca || m == mode::verify_full;
  const std::string host = m == mode::verify_full ? target.address.host : std::string{};
  if (auto hec = co_await stream_.connect_tls(*tls_->towards_servers, verify, host)) {
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
  baseline_ = reported_;
  created_ = last_used_ = clock::now();
  co_return *r;
}

server_error server_connection::check_auth_request(const server_target& target, const pr::scram_client* scram,
                                                   std::int32_t code) const {
  const auto server = "server " + target.address.to_string();
  if (scram && !scram->authenticated() && code != 11 && code != 12) {
    // Ending a SCRAM exchange early (AuthenticationOk) or switching method mid-way (to get a
    // password in the clear) is what an impostor that cannot prove the verifier would do.
    return fail(pr::sqlstate::protocol_violation,
                server + (code == 0 ? " sent AuthenticationOk before it proved itself in the SCRAM exchange; refused"
                                    : " changed authentication method in the middle of SCRAM; refused"));
  }
  if (code != 3 && code != 5) return {};
  // Over a Unix socket the bytes stay in the kernel, as libpq and negotiate_tls assume too.
  if (stream_.encrypted() || target.address.is_unix() || target.allow_password_without_tls) return {};
  return fail(pr::sqlstate::invalid_authorization,
              server + " asks for " + (code == 3 ? "a cleartext password" : "an MD5 password") +
                  " without TLS; refused (use SCRAM, TLS, or tls.server.allow_password_without_tls)");
}

awaitable<server_error> server_connection::authenticate(const server_target& target) {
  std::string body;
  char tag = 0;
  std::optional<pr::scram_client> scram;
  for (;;) {
    if (!co_await read_frame(tag, body)) co_return fail(pr::sqlstate::connection_failure, "server closed the connection during login");
    if (tag == 'E') co_return from_error_body(body);
    if (tag == 'v') continue;  // NegotiateProtocolVersion: we asked for 3.0 only
    if (tag != 'R') co_return fail(pr::sqlstate::protocol_violation, "unexpected message during server login");
    pr::authentication_view a;
    if (!pr::parse_authentication(body, a)) co_return fail(pr::sqlstate::protocol_violation, "malformed authentication request");
    if (auto err = check_auth_request(target, scram ? &*scram : nullptr, a.code)) co_return err;
    std::string out;
    switch (a.code) {
      case 0: co_return server_error{};
      case 3: pr::build::password_message(out, target.password); break;
      case 5: {
        if (a.data.size() != 4) co_return fail(pr::sqlstate::protocol_violation, "malformed MD5 salt");
        pr::md5_salt salt{};
        for (std::size_t i = 0; i < 4; ++i) salt[i] = static_cast<std::uint8_t>(a.data[i]);
        pr::build::password_message(out, pr::md5_password_message(target.user, target.password, salt));
        break;
      }
      case 10: {
        // Over TLS, bind to the server's certificate when it offers -PLUS (as libpq's
        // channel_binding=prefer does): a proof relayed through an impostor then fails.
        std::string binding = stream_.encrypted() && pr::sasl_mechanisms_contain(a.data, pr::scram_sha_256_plus_mechanism)
                                  ? peer_end_point_hash(stream_.native())
                                  : std::string{};
        if (binding.empty() && !pr::sasl_mechanisms_contain(a.data, pr::scram_sha_256_mechanism)) {
          co_return fail(pr::sqlstate::feature_not_supported, "server offers no SASL mechanism pgrelay supports");
        }
        scram.emplace(target.password, pr::make_scram_nonce(pr::random_bytes(pr::scram_nonce_random_length)));
        // One cache per worker thread (shared-nothing): a pool's logins to one role pay PBKDF2 once.
        static thread_local pr::scram_salted_password_cache salted_cache;
        scram->use_cache(&salted_cache);
        if (!binding.empty()) scram->bind_channel(std::move(binding));
        auto first = scram->client_first();
        pr::build::sasl_initial_response(out, scram->bound() ? pr::scram_sha_256_plus_mechanism : pr::scram_sha_256_mechanism,
                                         first);
        break;
      }
      case 11: {
        if (!scram) co_return fail(pr::sqlstate::protocol_violation, "SASL continue without SASL start");
        auto final_msg = scram->handle_server_first(a.data);
        if (!final_msg && final_msg.error() == pr::scram_errc::invalid_iteration_count) {
          co_return fail(pr::sqlstate::invalid_authorization,
                         "server " + target.address.to_string() + " asks for a SCRAM iteration count outside 1.." +
                             std::to_string(pr::scram_max_client_iterations) + "; refused");
        }
        if (!final_msg) co_return fail(pr::sqlstate::invalid_password, "SCRAM exchange with server failed: " + final_msg.error().message());
        pr::build::sasl_response(out, *final_msg);
        break;
      }
      case 12: {
        if (!scram) co_return fail(pr::sqlstate::protocol_violation, "SASL final without SASL start");
        auto ok = scram->handle_server_final(a.data);
        if (!ok) co_return fail(pr::sqlstate::invalid_password, "server signature did not verify: " + ok.error().message());
        continue;
      }
      default:
        co_return fail(pr::sqlstate::feature_not_supported,
                       "server requested an authentication method pgrelay does not support (" + std::to_string(a.code) + ")");
    }
    if (auto ec = co_await write_all(stream_, out)) co_return fail(pr::sqlstate::connection_failure, ec.message());
  }
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
  std::optional<asio::steady_timer> timer;
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
  pollfd p{};
  p.fd = const_cast<stream_socket&>(socket_).native_handle();
  p.events = POLLIN | POLLRDHUP;
  int n = ::poll(&p, 1, 0);
  return n != 0;
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
