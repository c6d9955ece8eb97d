// Logging in to a Postgres server: SCRAM-SHA-256 with a password (fixed logins; PBKDF2 runs on the
// blocking pool, never on the worker's loop) or with a client's pass-through keys (no PBKDF2),
// MD5 and cleartext where allowed, channel binding over TLS.
#include <spdlog/spdlog.h>

#include "blocking_work.hpp"
#include "pgrelay/protocol/md5.hpp"
#include "pgrelay/protocol/scram.hpp"
#include "pgrelay/protocol/writer.hpp"
#include "server_connection.hpp"
#include "server_io.hpp"
#include "tls.hpp"

namespace pgrelay::proxy {

namespace pr = pgrelay::protocol;
using server_io::fail;

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
  if (target.passthrough) {
    return fail(pr::sqlstate::invalid_authorization,
                server + " asks for " + (code == 3 ? "a cleartext" : "an MD5") + " password for role \"" + target.user +
                    "\", which pass-through cannot give (it holds no password); have Postgres use SCRAM: "
                    "password_encryption = 'scram-sha-256', scram-sha-256 in pg_hba.conf, and set the password again");
  }
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
    if (!co_await read_frame(tag, body))
      co_return fail(pr::sqlstate::connection_failure, "server closed the connection during login");
    if (tag == 'E') co_return server_io::from_error_body(body);
    if (tag == 'v') continue;  // NegotiateProtocolVersion: we asked for 3.0 only
    if (tag != 'R') co_return fail(pr::sqlstate::protocol_violation, "unexpected message during server login");
    pr::authentication_view a;
    if (!pr::parse_authentication(body, a))
      co_return fail(pr::sqlstate::protocol_violation, "malformed authentication request");
    if (auto err = check_auth_request(target, scram ? &*scram : nullptr, a.code)) co_return err;
    if (a.code == 0) co_return server_error{};
    if (a.code == 12) {
      if (!scram) co_return fail(pr::sqlstate::protocol_violation, "SASL final without SASL start");
      auto ok = scram->handle_server_final(a.data);
      if (!ok)
        co_return fail(pr::sqlstate::invalid_password, "server signature did not verify: " + ok.error().message());
      continue;
    }
    std::string out;
    if (auto err = co_await answer_auth(target, a.code, a.data, scram, out)) co_return err;
    if (auto ec = co_await server_io::write_all(stream_, out))
      co_return fail(pr::sqlstate::connection_failure, ec.message());
  }
}

awaitable<server_error> server_connection::answer_auth(const server_target& target, std::int32_t code,
                                                       std::string_view data, std::optional<pr::scram_client>& scram,
                                                       std::string& out) {
  switch (code) {
    case 3:
      pr::build::password_message(out, target.password);
      co_return server_error{};
    case 5: {
      if (data.size() != 4) co_return fail(pr::sqlstate::protocol_violation, "malformed MD5 salt");
      pr::md5_salt salt{};
      for (std::size_t i = 0; i < 4; ++i) salt[i] = static_cast<std::uint8_t>(data[i]);
      pr::build::password_message(out, pr::md5_password_message(target.user, target.password, salt));
      co_return server_error{};
    }
    case 10: {
      // Over TLS, bind to the server's certificate when it offers -PLUS (as libpq's
      // channel_binding=prefer does): a proof relayed through an impostor then fails.
      std::string binding = stream_.encrypted() && pr::sasl_mechanisms_contain(data, pr::scram_sha_256_plus_mechanism)
                                ? peer_end_point_hash(stream_.native())
                                : std::string{};
      if (binding.empty() && !pr::sasl_mechanisms_contain(data, pr::scram_sha_256_mechanism))
        co_return fail(pr::sqlstate::feature_not_supported, "server offers no SASL mechanism pgrelay supports");
      scram.emplace(target.passthrough ? std::string{} : target.password,
                    pr::make_scram_nonce(pr::random_bytes(pr::scram_nonce_random_length)));
      if (target.passthrough) scram->use_passthrough(*target.passthrough);
      if (!binding.empty()) scram->bind_channel(std::move(binding));
      auto first = scram->client_first();
      pr::build::sasl_initial_response(
          out, scram->bound() ? pr::scram_sha_256_plus_mechanism : pr::scram_sha_256_mechanism, first);
      co_return server_error{};
    }
    case 11:
      if (!scram) co_return fail(pr::sqlstate::protocol_violation, "SASL continue without SASL start");
      co_return co_await scram_continue(target, data, *scram, out);
    default:
      co_return fail(pr::sqlstate::feature_not_supported,
                     "server requested an authentication method pgrelay does not support (" + std::to_string(code) + ")");
  }
}

awaitable<server_error> server_connection::scram_continue(const server_target& target, std::string_view data,
                                                          pr::scram_client& scram, std::string& out) {
  const std::string server_first(data);
  if (!target.passthrough) {
    if (auto params = pr::parse_scram_server_first(server_first)) {
      // One cache per worker thread (shared-nothing): a pool's logins to one role pay PBKDF2 once,
      // and that once runs on the blocking pool so the worker's other clients do not wait for it.
      static thread_local pr::scram_salted_password_cache salted_cache;
      if (const auto* hit = salted_cache.find(target.password, params->salt, params->iterations)) {
        scram.use_salted_password(*hit);
      } else {
        auto job = [password = target.password, salt = params->salt, iterations = params->iterations]() noexcept {
          try {
            pr::scram_salted_password_cache once(1);
            return std::optional<pr::scram_key>(once.salted_password(password, salt, iterations));
          } catch (const std::exception&) {
            return std::optional<pr::scram_key>();  // OpenSSL failed: handle_server_first retries inline
          }
        };
        // Named, not a temporary of the co_await expression: GCC 12 destroys such temporaries
        // twice when the coroutine suspends inside that expression.
        auto computed = run_blocking(std::move(job));
        const std::optional<pr::scram_key> salted = co_await std::move(computed);
        if (salted) {
          pbkdf2_computations().fetch_add(1, std::memory_order_relaxed);
          salted_cache.insert(target.password, params->salt, params->iterations, *salted);
          scram.use_salted_password(*salted);
        }
      }
    }
  }
  auto final_msg = scram.handle_server_first(server_first);
  if (!final_msg && final_msg.error() == pr::scram_errc::invalid_iteration_count) {
    co_return fail(pr::sqlstate::invalid_authorization,
                   "server " + target.address.to_string() + " asks for a SCRAM iteration count outside 1.." +
                       std::to_string(pr::scram_max_client_iterations) + "; refused");
  }
  if (!final_msg && final_msg.error() == pr::scram_errc::verifier_mismatch) {
    co_return fail(pr::sqlstate::invalid_authorization,
                   "pass-through login of role \"" + target.user + "\" failed: the verifier pgrelay has for it (" +
                       (target.passthrough_source.empty() ? std::string("users file") : target.passthrough_source) +
                       ") has another salt or iteration count than Postgres's; copy rolpassword from pg_authid into "
                       "the users file, or drop the entry there and let auth.query fetch it");
  }
  if (!final_msg)
    co_return fail(pr::sqlstate::invalid_password, "SCRAM exchange with server failed: " + final_msg.error().message());
  pr::build::sasl_response(out, *final_msg);
  co_return server_error{};
}

}  // namespace pgrelay::proxy
