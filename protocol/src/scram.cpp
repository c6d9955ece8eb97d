// SCRAM-SHA-256 verifiers and exchanges (RFC 5802 / 7677) over OpenSSL's SHA-256, HMAC and PBKDF2.
// Parsers here read untrusted bytes: they return errors, never throw, never read past the input.
#include "pgrelay/protocol/scram.hpp"

#include "pgrelay/protocol/base64.hpp"
#include "scram_internal.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <memory>
#include <climits>
#include <optional>
#include <stdexcept>
#include <utility>

namespace pgrelay::protocol {

namespace {

class scram_category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "pgrelay.scram"; }
  std::string message(int ev) const override {
    switch (static_cast<scram_errc>(ev)) {
      case scram_errc::malformed_message:
        return "malformed SCRAM message";
      case scram_errc::unsupported_feature:
        return "unsupported SCRAM feature requested";
      case scram_errc::channel_binding_mismatch:
        return "SCRAM channel binding check failed";
      case scram_errc::nonce_mismatch:
        return "SCRAM nonce mismatch";
      case scram_errc::invalid_proof:
        return "SCRAM client proof does not match";
      case scram_errc::invalid_iteration_count:
        return "SCRAM iteration count out of range";
      case scram_errc::invalid_server_signature:
        return "SCRAM server signature does not match";
      case scram_errc::server_error:
        return "SCRAM server reported an error";
      case scram_errc::invalid_verifier:
        return "invalid SCRAM verifier";
      case scram_errc::invalid_nonce:
        return "invalid SCRAM nonce supplied";
      case scram_errc::out_of_order:
        return "SCRAM message out of order";
      case scram_errc::verifier_mismatch:
        return "SCRAM salt or iteration count differs from the client's verifier";
    }
    return "unknown SCRAM error";
  }
};

}  // namespace

namespace detail {

// ---- crypto primitives -------------------------------------------------------------------------

const unsigned char* bytes_of(std::string_view s) noexcept {
  return reinterpret_cast<const unsigned char*>(s.data());
}

std::string_view as_view(const scram_key& k) noexcept {
  return {reinterpret_cast<const char*>(k.data()), k.size()};
}

// OpenSSL 3 looks an algorithm up by name on every one-shot call (EVP_sha256() in EVP_Digest,
// HMAC()), which made these two calls most of a SCRAM login's cost. The algorithms are fetched
// once; an HMAC context is duplicated from a keyless template, which skips the lookup too.
const EVP_MD* fetched_sha256() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (md == nullptr) throw std::runtime_error("EVP_MD_fetch(SHA256) failed");
  return md;
}

struct mac_ctx_deleter {
  void operator()(EVP_MAC_CTX* c) const noexcept { EVP_MAC_CTX_free(c); }
};
using mac_ctx_ptr = std::unique_ptr<EVP_MAC_CTX, mac_ctx_deleter>;

// Read-only after its construction, so threads may duplicate it concurrently.
const EVP_MAC_CTX* hmac_sha256_template() {
  static const mac_ctx_ptr tmpl = [] {
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    mac_ctx_ptr ctx(mac ? EVP_MAC_CTX_new(mac) : nullptr);
    EVP_MAC_free(mac);  // the context keeps its own reference
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                 OSSL_PARAM_construct_end()};
    if (!ctx || EVP_MAC_CTX_set_params(ctx.get(), params) != 1) ctx.reset();
    return ctx;
  }();
  if (!tmpl) throw std::runtime_error("EVP_MAC HMAC-SHA256 unavailable");
  return tmpl.get();
}

scram_key sha256(std::string_view data) {
  scram_key out{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, fetched_sha256(), nullptr) != 1 ||
      len != out.size())
    throw std::runtime_error("EVP_Digest(sha256) failed");
  return out;
}

scram_key hmac_sha256(std::string_view key, std::string_view data) {
  scram_key out{};
  std::size_t len = 0;
  mac_ctx_ptr ctx(EVP_MAC_CTX_dup(hmac_sha256_template()));
  if (!ctx || EVP_MAC_init(ctx.get(), bytes_of(key), key.size(), nullptr) != 1 ||
      EVP_MAC_update(ctx.get(), bytes_of(data), data.size()) != 1 ||
      EVP_MAC_final(ctx.get(), out.data(), &len, out.size()) != 1 || len != out.size())
    throw std::runtime_error("HMAC(sha256) failed");
  return out;
}

// An HMAC context keyed once, for finish_hmac to start each use from.
static mac_ctx_ptr keyed_hmac(std::string_view key) {
  mac_ctx_ptr ctx(EVP_MAC_CTX_dup(hmac_sha256_template()));
  if (!ctx || EVP_MAC_init(ctx.get(), bytes_of(key), key.size(), nullptr) != 1)
    throw std::runtime_error("HMAC(sha256) keying failed");
  return ctx;
}

// HMAC of `data` with the key `keyed` was made with. Initialising with no key starts again from
// the kept key's state (the ipad and opad blocks already hashed), with no copy and no allocation.
static scram_key finish_hmac(EVP_MAC_CTX* keyed, std::string_view data) {
  scram_key out{};
  std::size_t len = 0;
  if (EVP_MAC_init(keyed, nullptr, 0, nullptr) != 1 || EVP_MAC_update(keyed, bytes_of(data), data.size()) != 1 ||
      EVP_MAC_final(keyed, out.data(), &len, out.size()) != 1 || len != out.size())
    throw std::runtime_error("HMAC(sha256) failed");
  return out;
}

scram_key salted_password(std::string_view password, std::string_view salt, int iterations) {
  scram_key out{};
  if (password.size() > INT_MAX || salt.size() > INT_MAX ||
      PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), bytes_of(salt),
                        static_cast<int>(salt.size()), iterations, fetched_sha256(),
                        static_cast<int>(out.size()), out.data()) != 1)
    throw std::runtime_error("PKCS5_PBKDF2_HMAC failed");
  return out;
}

scram_key xor_keys(const scram_key& a, const scram_key& b) noexcept {
  scram_key out{};
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::uint8_t>(a[i] ^ b[i]);
  return out;
}

bool equal_constant_time(const scram_key& a, const scram_key& b) noexcept {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// Lengths are public (the header is the client's own; the hash length follows the certificate).
bool equal_constant_time(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<scram_key> decode_key(std::string_view b64) {
  auto raw = base64_decode(b64);
  if (!raw || raw->size() != scram_key{}.size()) return std::nullopt;
  scram_key k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>((*raw)[i]);
  return k;
}

// ---- message parsing ---------------------------------------------------------------------------


// Optional trailing extensions: each must be a well-formed attribute; their content is ignored.
bool skip_extensions(attribute_reader& reader) noexcept {
  while (!reader.at_end())
    if (!reader.next()) return false;
  return true;
}

bool has_nul(std::string_view s) noexcept {
  return s.find('\0') != std::string_view::npos;
}

// RFC 5802 saslname: ',' and '=' are escaped as "=2C" and "=3D".
std::string escape_saslname(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (const char c : name) {
    if (c == ',')
      out += "=2C";
    else if (c == '=')
      out += "=3D";
    else
      out += c;
  }
  return out;
}

// Parses a decimal integer (optionally negative); nullopt if the text is not exactly one.
// Values that overflow long long come back as LLONG_MAX so range checks reject them.
std::optional<long long> parse_integer(std::string_view text) noexcept {
  long long value = 0;
  const char* const end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ptr != end || text.empty()) return std::nullopt;
  if (ec == std::errc::result_out_of_range) return text[0] == '-' ? LLONG_MIN : LLONG_MAX;
  if (ec != std::errc{}) return std::nullopt;
  return value;
}

constexpr std::string_view verifier_prefix = "SCRAM-SHA-256$";

}  // namespace detail

using namespace detail;


const boost::system::error_category& scram_category() noexcept {
  static const scram_category_impl instance;
  return instance;
}

boost::system::error_code make_error_code(scram_errc e) noexcept {
  return {static_cast<int>(e), scram_category()};
}

// ---- verifiers ---------------------------------------------------------------------------------

namespace {

// The one reader of the stored form, for logins and for the users file's check: "" when `text`
// is a verifier (then in `v`), else what is wrong with it, in words for a configuration error.
std::string_view read_verifier(std::string_view text, scram_verifier& v) {
  constexpr std::string_view shape = "expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>";
  if (!text.starts_with(verifier_prefix)) return "a verifier must start with 'SCRAM-SHA-256$'";
  text.remove_prefix(verifier_prefix.size());
  // <iterations>:<salt>$<stored>:<server>
  const std::size_t dollar = text.find('$');
  if (dollar == std::string_view::npos) return shape;
  const std::string_view params = text.substr(0, dollar);
  const std::string_view keys = text.substr(dollar + 1);
  const std::size_t colon1 = params.find(':');
  const std::size_t colon2 = keys.find(':');
  if (colon1 == std::string_view::npos || colon2 == std::string_view::npos) return shape;

  const std::string_view iterations_text = params.substr(0, colon1);
  const auto iterations = iterations_text.empty() || iterations_text[0] == '-' ? std::nullopt
                                                                               : parse_integer(iterations_text);
  if (!iterations || *iterations < 1 || *iterations > INT_MAX) {
    return "the iteration count must be an integer from 1 to 2147483647";
  }
  v.iterations = static_cast<int>(*iterations);
  auto salt = base64_decode(params.substr(colon1 + 1));
  if (!salt || salt->empty()) return "the salt is not valid base64";
  v.salt = std::move(*salt);
  const auto stored = decode_key(keys.substr(0, colon2));
  if (!stored) return "the StoredKey is not a base64 SHA-256 digest";
  const auto server = decode_key(keys.substr(colon2 + 1));
  if (!server) return "the ServerKey is not a base64 SHA-256 digest";
  v.stored_key = *stored;
  v.server_key = *server;
  return {};
}

}  // namespace

boost::system::result<scram_verifier> parse_scram_verifier(std::string_view text) {
  scram_verifier v;
  if (!read_verifier(text, v).empty()) return boost::system::error_code(scram_errc::invalid_verifier);
  return v;
}

std::string_view scram_verifier_problem(std::string_view text) {
  scram_verifier v;
  return read_verifier(text, v);
}

scram_verifier compute_scram_verifier(std::string_view password, std::string_view salt,
                                      int iterations) {
  if (iterations < 1) throw std::invalid_argument("SCRAM iterations must be >= 1");
  if (salt.empty()) throw std::invalid_argument("SCRAM salt must not be empty");
  scram_key salted = salted_password(password, salt, iterations);
  scram_key client_key = hmac_sha256(as_view(salted), "Client Key");
  scram_verifier v;
  v.iterations = iterations;
  v.salt = std::string(salt);
  v.stored_key = sha256(as_view(client_key));
  v.server_key = hmac_sha256(as_view(salted), "Server Key");
  OPENSSL_cleanse(salted.data(), salted.size());
  OPENSSL_cleanse(client_key.data(), client_key.size());
  return v;
}

std::string format_scram_verifier(const scram_verifier& verifier) {
  std::string out(verifier_prefix);
  out += std::to_string(verifier.iterations);
  out += ':';
  out += base64_encode(verifier.salt);
  out += '$';
  out += base64_encode(as_view(verifier.stored_key));
  out += ':';
  out += base64_encode(as_view(verifier.server_key));
  return out;
}

std::string make_scram_verifier(std::string_view password, std::string_view salt, int iterations) {
  return format_scram_verifier(compute_scram_verifier(password, salt, iterations));
}

scram_verifier mock_scram_verifier(std::string_view user, std::string_view secret, int iterations) {
  // Domain-separated HMACs keyed by the secret: the salt must be stable per user name, the keys
  // must be unpredictable without the secret.
  scram_verifier v;
  v.iterations = iterations < 1 ? scram_default_iterations : iterations;
  const scram_key salt = hmac_sha256(secret, std::string("salt\x1f").append(user));
  v.salt.assign(reinterpret_cast<const char*>(salt.data()), scram_default_salt_length);
  v.stored_key = hmac_sha256(secret, std::string("stored-key\x1f").append(user));
  v.server_key = hmac_sha256(secret, std::string("server-key\x1f").append(user));
  return v;
}

std::string random_bytes(std::size_t n) {
  // RAND_bytes costs about the same for 4 bytes as for 256 (DRBG locking, a fork check), and a
  // login draws a few small pieces: they come from a per-thread buffer of the DRBG's output.
  // Each byte is handed out once and wiped from the buffer.
  constexpr std::size_t pool_size = 256;
  thread_local std::array<unsigned char, pool_size> pool{};
  thread_local std::size_t left = 0;
  std::string out(n, '\0');
  std::size_t done = 0;
  while (done < n) {
    if (left == 0) {
      if (n - done >= pool_size) {  // big requests skip the buffer
        const std::size_t chunk = std::min<std::size_t>(n - done, 1 << 20);
        if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data() + done), static_cast<int>(chunk)) != 1)
          throw std::runtime_error("RAND_bytes failed");
        done += chunk;
        continue;
      }
      if (RAND_bytes(pool.data(), static_cast<int>(pool.size())) != 1) throw std::runtime_error("RAND_bytes failed");
      left = pool.size();
    }
    const std::size_t take = std::min(left, n - done);
    unsigned char* from = pool.data() + (pool.size() - left);
    std::memcpy(out.data() + done, from, take);
    OPENSSL_cleanse(from, take);
    left -= take;
    done += take;
  }
  return out;
}

std::string make_scram_nonce(std::string_view random) {
  return base64_encode(random);
}

bool is_valid_scram_nonce(std::string_view nonce) noexcept {
  if (nonce.empty()) return false;
  for (const char c : nonce)
    if (c < 0x21 || c > 0x7E || c == ',') return false;
  return true;
}

// ---- server ------------------------------------------------------------------------------------

namespace {

// Why a client-first-message is refused: what scram_server::fail records.
struct refusal {
  scram_errc code;
  const char* detail;
};

// gs2-header = gs2-cbind-flag "," [ authzid ] ","
struct gs2_header {
  std::optional<refusal> refused;
  std::size_t length = 0;                     // through the second ','
  std::optional<scram_cbind_flag> cbind_flag;  // "n" or "y"; none for "p=" (and when unread)
  bool bound = false;                          // "p=tls-server-end-point"
};

// The flag against what was offered (`offered`: -PLUS advertised, `selected_plus`: chosen).
std::optional<refusal> check_cbind_flag(std::string_view flag, bool offered, bool selected_plus, gs2_header& out) {
  if (flag == "n") {
    out.cbind_flag = scram_cbind_flag::not_supported;
    if (selected_plus)
      return refusal{scram_errc::channel_binding_mismatch,
                     "client selected SCRAM-SHA-256-PLUS without channel-binding data"};
  } else if (flag == "y") {
    out.cbind_flag = scram_cbind_flag::client_supports;
    if (offered)
      return refusal{scram_errc::channel_binding_mismatch,
                     "client thinks channel binding is not offered, but it was (downgrade)"};
  } else if (flag.starts_with("p=")) {
    if (!offered)
      return refusal{scram_errc::unsupported_feature, "client requires channel binding, which was not offered"};
    if (!selected_plus)
      return refusal{scram_errc::channel_binding_mismatch,
                     "client selected SCRAM-SHA-256 but sent channel-binding data"};
    if (flag.substr(2) != tls_server_end_point)
      return refusal{scram_errc::unsupported_feature, "unsupported channel-binding type"};
    out.bound = true;
  } else {
    return refusal{scram_errc::malformed_message, "invalid gs2 channel-binding flag"};
  }
  return std::nullopt;
}

gs2_header read_gs2_header(std::string_view message, bool offered, bool selected_plus) {
  gs2_header out;
  const std::size_t comma1 = message.find(',');
  if (comma1 == std::string_view::npos) {
    out.refused = refusal{scram_errc::malformed_message, "client-first has no gs2 header"};
    return out;
  }
  out.refused = check_cbind_flag(message.substr(0, comma1), offered, selected_plus, out);
  if (out.refused) return out;
  const std::size_t comma2 = message.find(',', comma1 + 1);
  if (comma2 == std::string_view::npos) {
    out.refused = refusal{scram_errc::malformed_message, "client-first gs2 header is truncated"};
    return out;
  }
  const std::string_view authzid = message.substr(comma1 + 1, comma2 - comma1 - 1);
  if (authzid.starts_with("a=")) {
    out.refused = refusal{scram_errc::unsupported_feature, "authorization identity not supported"};
  } else if (!authzid.empty()) {
    out.refused = refusal{scram_errc::malformed_message, "invalid gs2 authzid"};
  }
  out.length = comma2 + 1;
  return out;
}

// client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
// The username is ignored (Postgres takes it from the startup packet).
struct client_first_bare {
  std::optional<refusal> refused;
  std::string_view nonce;  // the client's part, into the message
};

client_first_bare read_client_first_bare(std::string_view bare) {
  attribute_reader reader(bare);
  auto attr = reader.next();
  if (attr && attr->name == 'm')
    return {refusal{scram_errc::unsupported_feature, "mandatory SCRAM extension not supported"}, {}};
  if (!attr || attr->name != 'n')
    return {refusal{scram_errc::malformed_message, "client-first has no username attribute"}, {}};
  attr = reader.next();
  if (!attr || attr->name != 'r')
    return {refusal{scram_errc::malformed_message, "client-first has no nonce attribute"}, {}};
  if (!is_valid_scram_nonce(attr->value))
    return {refusal{scram_errc::malformed_message, "client nonce is empty or not printable"}, {}};
  if (!skip_extensions(reader))
    return {refusal{scram_errc::malformed_message, "malformed extension in client-first"}, {}};
  return {std::nullopt, attr->value};
}

}  // namespace

struct scram_login_secret::keyed_mac {
  mac_ctx_ptr ctx;
};

scram_login_secret::scram_login_secret(scram_verifier verifier)
    : verifier_(std::move(verifier)),
      stored_(new keyed_mac{keyed_hmac(as_view(verifier_.stored_key))}),
      server_(new keyed_mac{keyed_hmac(as_view(verifier_.server_key))}) {}

scram_login_secret::~scram_login_secret() = default;

scram_key scram_login_secret::client_signature(std::string_view message) {
  return finish_hmac(stored_->ctx.get(), message);
}

scram_key scram_login_secret::server_signature(std::string_view message) {
  return finish_hmac(server_->ctx.get(), message);
}

scram_server::scram_server(scram_verifier verifier, std::string server_nonce)
    : scram_server(std::make_shared<scram_login_secret>(std::move(verifier)), std::move(server_nonce)) {}

scram_server::scram_server(std::shared_ptr<scram_login_secret> secret, std::string server_nonce)
    : secret_(std::move(secret)), server_nonce_(std::move(server_nonce)) {}

scram_server::~scram_server() { OPENSSL_cleanse(client_key_.data(), client_key_.size()); }

std::optional<scram_passthrough_keys> scram_server::passthrough_keys() const {
  if (state_ != state::done) return std::nullopt;
  scram_passthrough_keys keys;
  keys.client_key = client_key_;
  const scram_verifier& v = secret_->verifier();
  keys.server_key = v.server_key;
  keys.salt = v.salt;
  keys.iterations = v.iterations;
  return keys;
}

boost::system::error_code scram_server::fail(scram_errc e, std::string_view detail) noexcept {
  state_ = state::failed;
  error_detail_ = detail;
  return e;
}

void scram_server::offer_channel_binding(std::string end_point_hash, bool selected_plus) {
  binding_offered_ = true;
  binding_selected_ = selected_plus;
  end_point_hash_ = std::move(end_point_hash);
}

boost::system::result<std::string> scram_server::handle_client_first(std::string_view message) {
  if (state_ != state::awaiting_client_first)
    return fail(scram_errc::out_of_order, "client-first-message received in wrong state");
  if (!is_valid_scram_nonce(server_nonce_))
    return fail(scram_errc::invalid_nonce, "injected server nonce is not printable");
  if (has_nul(message)) return fail(scram_errc::malformed_message, "NUL byte in client-first");

  const auto header = read_gs2_header(message, binding_offered_, binding_selected_);
  if (header.cbind_flag) cbind_flag_ = *header.cbind_flag;
  if (header.refused) return fail(header.refused->code, header.refused->detail);
  const std::string_view bare = message.substr(header.length);
  const auto client_nonce = read_client_first_bare(bare);
  if (client_nonce.refused) return fail(client_nonce.refused->code, client_nonce.refused->detail);

  gs2_header_ = message.substr(0, header.length);
  expected_cbind_ = gs2_header_;
  if (header.bound) expected_cbind_ += end_point_hash_;
  client_first_bare_ = bare;
  nonce_.reserve(client_nonce.nonce.size() + server_nonce_.size());
  nonce_.append(client_nonce.nonce).append(server_nonce_);
  server_first_ = "r=" + nonce_ + ",s=" + base64_encode(secret_->verifier().salt) +
                  ",i=" + std::to_string(secret_->verifier().iterations);
  state_ = state::awaiting_client_final;
  return server_first_;
}

boost::system::result<std::string> scram_server::handle_client_final(std::string_view message) {
  if (state_ != state::awaiting_client_final)
    return fail(scram_errc::out_of_order, "client-final-message received in wrong state");
  if (has_nul(message)) return fail(scram_errc::malformed_message, "NUL byte in client-final");

  // client-final-message = "c=" cbind "," "r=" nonce ["," extensions] "," "p=" proof
  attribute_reader reader(message);
  auto attr = reader.next();
  if (!attr || attr->name != 'c')
    return fail(scram_errc::malformed_message, "client-final has no channel-binding attribute");
  const auto cbind = base64_decode(attr->value);
  if (!cbind) return fail(scram_errc::malformed_message, "channel-binding is not valid base64");
  if (!equal_constant_time(*cbind, expected_cbind_))
    return fail(scram_errc::channel_binding_mismatch, "channel-binding data does not match");
  attr = reader.next();
  if (!attr || attr->name != 'r')
    return fail(scram_errc::malformed_message, "client-final has no nonce attribute");
  if (attr->value != nonce_) return fail(scram_errc::nonce_mismatch, "client-final nonce differs");
  for (;;) {
    if (reader.at_end()) return fail(scram_errc::malformed_message, "client-final has no proof");
    attr = reader.next();
    if (!attr) return fail(scram_errc::malformed_message, "malformed attribute in client-final");
    if (attr->name == 'p') break;
  }
  if (!reader.at_end())
    return fail(scram_errc::malformed_message, "attributes after proof in client-final");
  const auto proof = decode_key(attr->value);
  if (!proof) return fail(scram_errc::malformed_message, "proof is not 32 bytes of base64");

  // AuthMessage = client-first-bare "," server-first "," client-final-without-proof
  const std::string_view without_proof = message.substr(0, reader.field_start() - 1);
  std::string auth_message;
  auth_message.reserve(client_first_bare_.size() + server_first_.size() + without_proof.size() + 2);
  auth_message.append(client_first_bare_).append(",").append(server_first_).append(",");
  auth_message.append(without_proof);

  // ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); valid iff H(ClientKey) == StoredKey.
  const scram_key client_signature = secret_->client_signature(auth_message);
  scram_key client_key = xor_keys(*proof, client_signature);
  const scram_key computed_stored_key = sha256(as_view(client_key));
  if (!equal_constant_time(computed_stored_key, secret_->verifier().stored_key)) {
    OPENSSL_cleanse(client_key.data(), client_key.size());
    return fail(scram_errc::invalid_proof, "client proof does not match");
  }
  // Proven: this ClientKey logs in to any server holding the same verifier (pass-through).
  client_key_ = client_key;
  OPENSSL_cleanse(client_key.data(), client_key.size());

  const scram_key server_signature = secret_->server_signature(auth_message);
  state_ = state::done;
  return "v=" + base64_encode(as_view(server_signature));
}

}  // namespace pgrelay::protocol
