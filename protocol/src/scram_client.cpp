// pgrelay as the SCRAM client towards Postgres (RFC 5802 / 7677): with a password (PBKDF2, maybe
// cached or computed by the caller elsewhere) or with pass-through keys (no PBKDF2 at all).
// Parses untrusted server messages: returns errors, never throws on their content.
#include <openssl/crypto.h>

#include <stdexcept>
#include <utility>

#include "pgrelay/protocol/base64.hpp"
#include "pgrelay/protocol/scram.hpp"
#include "scram_internal.hpp"

namespace pgrelay::protocol {

using namespace detail;

// ---- client ------------------------------------------------------------------------------------

scram_salted_password_cache::~scram_salted_password_cache() {
  for (auto& e : entries_) wipe(e);
}

void scram_salted_password_cache::wipe(entry& e) noexcept {
  OPENSSL_cleanse(e.password.data(), e.password.size());
  OPENSSL_cleanse(e.salted.data(), e.salted.size());
}

const scram_key* scram_salted_password_cache::find(std::string_view password, std::string_view salt,
                                                   int iterations) const {
  for (const auto& e : entries_) {
    if (e.iterations == iterations && e.salt == salt && e.password == password) return &e.salted;
  }
  return nullptr;
}

void scram_salted_password_cache::insert(std::string_view password, std::string_view salt, int iterations,
                                         const scram_key& salted) {
  if (find(password, salt, iterations)) return;
  entry fresh{std::string(password), std::string(salt), iterations, salted};
  if (entries_.size() < capacity_) {
    entries_.push_back(std::move(fresh));
    return;
  }
  auto& slot = entries_[next_];
  next_ = (next_ + 1) % capacity_;
  wipe(slot);
  slot = std::move(fresh);
}

scram_key scram_salted_password_cache::salted_password(std::string_view password, std::string_view salt,
                                                       int iterations) {
  if (const auto* hit = find(password, salt, iterations)) return *hit;
  if (iterations < 1 || salt.empty()) throw std::invalid_argument("SCRAM: iterations < 1 or empty salt");
  const scram_key salted = detail::salted_password(password, salt, iterations);
  ++computations_;
  insert(password, salt, iterations, salted);
  return salted;
}

scram_passthrough_keys::~scram_passthrough_keys() {
  OPENSSL_cleanse(client_key.data(), client_key.size());
  OPENSSL_cleanse(server_key.data(), server_key.size());
}

namespace {

struct server_first_parts {
  std::string_view nonce;
  scram_server_first_params params;
};

// server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count ["," ext]
boost::system::result<server_first_parts> split_server_first(std::string_view message,
                                                             std::string_view& detail) {
  auto bad = [&detail](scram_errc e, std::string_view why) -> boost::system::error_code {
    detail = why;
    return e;
  };
  if (has_nul(message)) return bad(scram_errc::malformed_message, "NUL byte in server-first");
  attribute_reader reader(message);
  auto attr = reader.next();
  if (attr && attr->name == 'm')
    return bad(scram_errc::unsupported_feature, "mandatory SCRAM extension not supported");
  if (!attr || attr->name != 'r') return bad(scram_errc::malformed_message, "server-first has no nonce attribute");
  server_first_parts out;
  out.nonce = attr->value;
  if (!is_valid_scram_nonce(out.nonce)) return bad(scram_errc::malformed_message, "server nonce is not printable");
  attr = reader.next();
  if (!attr || attr->name != 's') return bad(scram_errc::malformed_message, "server-first has no salt attribute");
  auto salt = base64_decode(attr->value);
  if (!salt || salt->empty()) return bad(scram_errc::malformed_message, "salt is empty or not valid base64");
  attr = reader.next();
  if (!attr || attr->name != 'i') return bad(scram_errc::malformed_message, "server-first has no iteration count");
  const auto iterations = parse_integer(attr->value);
  if (!iterations) return bad(scram_errc::malformed_message, "iteration count is not a number");
  if (*iterations < 1 || *iterations > scram_max_client_iterations)
    return bad(scram_errc::invalid_iteration_count, "iteration count out of range");
  if (!skip_extensions(reader)) return bad(scram_errc::malformed_message, "malformed extension in server-first");
  out.params.salt = std::move(*salt);
  out.params.iterations = static_cast<int>(*iterations);
  return out;
}

}  // namespace

boost::system::result<scram_server_first_params> parse_scram_server_first(std::string_view message) {
  std::string_view detail;
  auto parts = split_server_first(message, detail);
  if (!parts) return parts.error();
  return std::move(parts->params);
}

void scram_client::use_passthrough(scram_passthrough_keys keys) { passthrough_ = std::move(keys); }

void scram_client::use_salted_password(const scram_key& salted) noexcept { salted_ = salted; }

scram_client::scram_client(std::string password, std::string client_nonce, std::string username)
    : password_(std::move(password)),
      client_nonce_(std::move(client_nonce)),
      username_(std::move(username)) {}

boost::system::error_code scram_client::fail(scram_errc e, std::string_view detail) noexcept {
  state_ = state::failed;
  error_detail_ = detail;
  return e;
}

void scram_client::bind_channel(std::string end_point_hash) {
  if (state_ != state::initial) return;
  gs2_header_ = "p=" + std::string(tls_server_end_point) + ",,";
  cbind_data_ = std::move(end_point_hash);
}

std::string scram_client::client_first() {
  if (state_ == state::initial) {
    client_first_bare_ = "n=" + escape_saslname(username_) + ",r=" + client_nonce_;
    state_ = state::awaiting_server_first;
  }
  return gs2_header_ + client_first_bare_;
}

boost::system::result<std::string> scram_client::handle_server_first(std::string_view message) {
  if (state_ != state::awaiting_server_first)
    return fail(scram_errc::out_of_order, "server-first-message received in wrong state");
  if (!is_valid_scram_nonce(client_nonce_))
    return fail(scram_errc::invalid_nonce, "injected client nonce is not printable");
  std::string_view why;
  auto parts = split_server_first(message, why);
  if (!parts) return fail(static_cast<scram_errc>(parts.error().value()), why);
  const std::string_view nonce = parts->nonce;
  const auto& salt = parts->params.salt;
  const int iterations = parts->params.iterations;
  if (nonce.size() <= client_nonce_.size() || !nonce.starts_with(client_nonce_))
    return fail(scram_errc::nonce_mismatch, "server nonce does not extend the client nonce");

  scram_key client_key{};
  scram_key server_key{};
  if (passthrough_) {
    // Hi() is never needed: the keys came from the client's proof against the same verifier.
    if (passthrough_->iterations != iterations || !equal_constant_time(passthrough_->salt, salt))
      return fail(scram_errc::verifier_mismatch, "server's salt or iteration count differs from the client's verifier");
    client_key = passthrough_->client_key;
    server_key = passthrough_->server_key;
  } else {
    scram_key salted = salted_ ? *salted_
                       : cache_ ? cache_->salted_password(password_, salt, iterations)
                                : salted_password(password_, salt, iterations);
    client_key = hmac_sha256(as_view(salted), "Client Key");
    server_key = hmac_sha256(as_view(salted), "Server Key");
    OPENSSL_cleanse(salted.data(), salted.size());
    if (salted_) OPENSSL_cleanse(salted_->data(), salted_->size());
  }
  const scram_key stored_key = sha256(as_view(client_key));

  std::string client_final = "c=" + base64_encode(gs2_header_ + cbind_data_) + ",r=";
  client_final.append(nonce);
  std::string auth_message;
  auth_message.reserve(client_first_bare_.size() + message.size() + client_final.size() + 2);
  auth_message.append(client_first_bare_).append(",").append(message).append(",");
  auth_message.append(client_final);

  const scram_key proof = xor_keys(client_key, hmac_sha256(as_view(stored_key), auth_message));
  expected_server_signature_ = hmac_sha256(as_view(server_key), auth_message);
  OPENSSL_cleanse(client_key.data(), client_key.size());
  OPENSSL_cleanse(server_key.data(), server_key.size());

  client_final.append(",p=").append(base64_encode(as_view(proof)));
  state_ = state::awaiting_server_final;
  return client_final;
}

boost::system::result<void> scram_client::handle_server_final(std::string_view message) {
  if (state_ != state::awaiting_server_final)
    return fail(scram_errc::out_of_order, "server-final-message received in wrong state");
  if (has_nul(message)) return fail(scram_errc::malformed_message, "NUL byte in server-final");

  // server-final-message = (server-error / verifier) ["," extensions]
  attribute_reader reader(message);
  const auto attr = reader.next();
  if (attr && attr->name == 'e') {
    server_error_ = attr->value;
    return fail(scram_errc::server_error, "server-final carries an error");
  }
  if (!attr || attr->name != 'v')
    return fail(scram_errc::malformed_message, "server-final has no verifier attribute");
  const auto signature = decode_key(attr->value);
  if (!signature)
    return fail(scram_errc::malformed_message, "server signature is not 32 bytes of base64");
  if (!skip_extensions(reader))
    return fail(scram_errc::malformed_message, "malformed extension in server-final");
  if (!equal_constant_time(*signature, expected_server_signature_))
    return fail(scram_errc::invalid_server_signature, "server signature does not match");
  state_ = state::done;
  return {};
}


}  // namespace pgrelay::protocol
