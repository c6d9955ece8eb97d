// SCRAM-SHA-256 (RFC 5802 / RFC 7677) as Postgres uses it in SASL auth: verifiers, and the server
// and client exchanges as pure state machines. No I/O, no clock; nonces and salts are injected.
#pragma once

#include <array>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace pgrelay::protocol {

// SASL mechanism name advertised in AuthenticationSASL.
inline constexpr std::string_view scram_sha_256_mechanism = "SCRAM-SHA-256";
// What Postgres uses: 4096 iterations, 16 random salt bytes, 18 random nonce bytes (base64'd).
inline constexpr int scram_default_iterations = 4096;
inline constexpr std::size_t scram_default_salt_length = 16;
inline constexpr std::size_t scram_nonce_random_length = 18;
// Largest iteration count scram_client accepts from a server. PBKDF2 runs on a worker's event
// loop and stalls every client of that worker while it does: 4096 iterations cost about 1 ms,
// this cap about 25 ms (once per role and worker, thanks to the salted-password cache). 24 times
// Postgres's default leaves room for a raised scram_iterations; a server asking for more (or an
// impostor varying the salt to defeat the cache) is refused instead of paid for.
inline constexpr long long scram_max_client_iterations = 100'000;

// Why an exchange or a parse failed. How the proxy reports each to a client:
//   invalid_proof                 -> SQLSTATE 28P01 (invalid_password), FATAL
//   malformed_message, nonce_mismatch, channel_binding_mismatch, unsupported_feature,
//   out_of_order                  -> SQLSTATE 08P01 (protocol_violation), FATAL
// Client-side kinds (invalid_iteration_count, invalid_server_signature, server_error) concern the
// Postgres server we log in to; invalid_verifier is a configuration error; invalid_nonce means the
// caller injected a nonce that is empty or has characters outside printable ASCII minus ','.
enum class scram_errc {
  malformed_message = 1,
  unsupported_feature,       // authzid "a=", mandatory extension "m=", channel binding "p="
  channel_binding_mismatch,  // client-final "c=" is not base64 of the client-first gs2 header
  nonce_mismatch,
  invalid_proof,
  invalid_iteration_count,
  invalid_server_signature,
  server_error,  // server-final carried "e=..."; see scram_client::server_error()
  invalid_verifier,
  invalid_nonce,
  out_of_order,  // method called in the wrong state, or again after a failure
  // Pass-through: the server's salt or iteration count is not the one of the verifier the client
  // proved itself against, so its ClientKey cannot log in (the two verifiers differ).
  verifier_mismatch,
};

[[nodiscard]] const boost::system::error_category& scram_category() noexcept;
[[nodiscard]] boost::system::error_code make_error_code(scram_errc e) noexcept;

}  // namespace pgrelay::protocol

template <>
struct boost::system::is_error_code_enum<pgrelay::protocol::scram_errc> : std::true_type {};

namespace pgrelay::protocol {

using scram_key = std::array<std::uint8_t, 32>;  // one SHA-256 output

// A parsed SCRAM secret as stored in pg_authid.rolpassword and in pgrelay's users file.
struct scram_verifier {
  int iterations = 0;
  std::string salt;  // raw bytes, non-empty
  scram_key stored_key{};
  scram_key server_key{};
};

// What a client's proof reveals (RFC 5802: ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage),
// checked by H(ClientKey) == StoredKey) plus the verifier's ServerKey, salt and iteration count:
// enough to log in to a server holding the same verifier as that client, without its password
// and without PBKDF2 (SCRAM pass-through). As secret as the password itself; wiped on destruction.
struct scram_passthrough_keys {
  scram_key client_key{};
  scram_key server_key{};
  std::string salt;
  int iterations = 0;

  scram_passthrough_keys() = default;
  scram_passthrough_keys(const scram_passthrough_keys&) = default;
  scram_passthrough_keys& operator=(const scram_passthrough_keys&) = default;
  ~scram_passthrough_keys();
  friend bool operator==(const scram_passthrough_keys&, const scram_passthrough_keys&) = default;
};

// Parses "SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>".
// Errors: scram_errc::invalid_verifier (wrong prefix or shape, iterations not in 1..INT_MAX,
// non-canonical base64, empty salt, keys that are not 32 bytes). Never throws.
[[nodiscard]] boost::system::result<scram_verifier> parse_scram_verifier(std::string_view text);
// What is wrong with `text` as a stored verifier, in words for a configuration error; empty when
// parse_scram_verifier accepts it (the same reader decides both).
[[nodiscard]] std::string_view scram_verifier_problem(std::string_view text);

// Derives StoredKey and ServerKey from a plaintext password. The password is used as raw bytes
// without SASLprep, which matches Postgres for ASCII passwords and for any password SASLprep
// rejects (Postgres falls back to the raw bytes then); non-ASCII passwords that SASLprep would
// change yield a different verifier than Postgres's. Preconditions (caller-trusted inputs, not
// wire data): iterations >= 1 and salt non-empty; violations throw std::invalid_argument.
[[nodiscard]] scram_verifier compute_scram_verifier(std::string_view password,
                                                    std::string_view salt,
                                                    int iterations = scram_default_iterations);
// The text form of a verifier; parse_scram_verifier(format_scram_verifier(v)) == v.
[[nodiscard]] std::string format_scram_verifier(const scram_verifier& verifier);
// format_scram_verifier(compute_scram_verifier(password, salt, iterations)).
[[nodiscard]] std::string make_scram_verifier(std::string_view password, std::string_view salt,
                                              int iterations = scram_default_iterations);

// A verifier for a role that does not exist, so the exchange looks the same as for a real one
// (Postgres's "mock authentication"): salt and keys are derived from secret + user, so repeated
// attempts for one name see the same salt. `secret` must be random per process (random_bytes(32))
// and never shown; with it unknown, no client proof can match.
[[nodiscard]] scram_verifier mock_scram_verifier(std::string_view user, std::string_view secret,
                                                 int iterations = scram_default_iterations);

// n bytes from OpenSSL's CSPRNG (RAND_bytes), for nonces and salts. Throws std::runtime_error only
// if the CSPRNG fails, which means the process cannot do authentication safely at all.
[[nodiscard]] std::string random_bytes(std::size_t n);
// A nonce in the form Postgres uses: base64 of the given random bytes (pass
// random_bytes(scram_nonce_random_length)).
[[nodiscard]] std::string make_scram_nonce(std::string_view random);
// True if `nonce` is a non-empty run of printable ASCII other than ',' (RFC 5802 "printable").
[[nodiscard]] bool is_valid_scram_nonce(std::string_view nonce) noexcept;

// A verifier made ready for many logins: parsed once, with HMAC-SHA-256 contexts already keyed
// by its StoredKey and ServerKey. Keying an HMAC hashes two key blocks, and making and freeing
// its context costs as much again: most of a login's proof check. A kept scram_login_secret
// pays that once per verifier. The contexts are reused, so one thread at a time: keep one per
// thread (several exchanges of that thread may share it, since each signature is computed whole).
class scram_login_secret {
 public:
  explicit scram_login_secret(scram_verifier verifier);
  ~scram_login_secret();
  scram_login_secret(const scram_login_secret&) = delete;
  scram_login_secret& operator=(const scram_login_secret&) = delete;

  [[nodiscard]] const scram_verifier& verifier() const noexcept { return verifier_; }
  // HMAC(StoredKey, message) and HMAC(ServerKey, message).
  [[nodiscard]] scram_key client_signature(std::string_view message);
  [[nodiscard]] scram_key server_signature(std::string_view message);

 private:
  struct keyed_mac;
  scram_verifier verifier_;
  std::unique_ptr<keyed_mac> stored_;
  std::unique_ptr<keyed_mac> server_;
};

// How the client-first gs2 header answered the channel-binding question (RFC 5802 section 6).
enum class scram_cbind_flag {
  not_supported,    // "n": the client does not support channel binding
  client_supports,  // "y": the client supports it but thinks the server does not
};

// The mechanism with channel binding, advertised over TLS before the plain one (as Postgres does).
inline constexpr std::string_view scram_sha_256_plus_mechanism = "SCRAM-SHA-256-PLUS";
// The only channel-binding type Postgres and libpq use (RFC 5929).
inline constexpr std::string_view tls_server_end_point = "tls-server-end-point";

// pgrelay as the SCRAM server, authenticating a client against a stored verifier. Sequence:
// handle_client_first (SASLInitialResponse data) -> server-first for AuthenticationSASLContinue;
// handle_client_final (SASLResponse data) -> server-final for AuthenticationSASLFinal; then send
// AuthenticationOk. Any error is final: later calls return scram_errc::out_of_order.
// Without offer_channel_binding only "SCRAM-SHA-256" exists, and a client asking for channel
// binding ("p=") is refused.
class scram_server {
 public:
  // `server_nonce` is the server's part of the nonce (make_scram_nonce(random_bytes(18))); it
  // must satisfy is_valid_scram_nonce or the first call fails with scram_errc::invalid_nonce.
  scram_server(scram_verifier verifier, std::string server_nonce);
  // The same with a prepared secret (kept by the caller across logins).
  scram_server(std::shared_ptr<scram_login_secret> secret, std::string server_nonce);

  // Over TLS, before handle_client_first: SCRAM-SHA-256-PLUS was advertised, bound to
  // `end_point_hash` (the tls-server-end-point hash of pgrelay's certificate), and the client
  // `selected_plus` or the plain mechanism. Then, as in Postgres: with -PLUS the client must send
  // "p=tls-server-end-point" and prove it in "c="; with the plain mechanism "p=" is refused, and
  // "y" (the client thinks we cannot bind) is a downgrade and refused too.
  void offer_channel_binding(std::string end_point_hash, bool selected_plus);

  // Parses client-first-message:
  //   gs2-cbind-flag "," [authzid] "," ["m=" ext ","] "n=" user "," "r=" c-nonce ["," ext ...]
  // The user name is ignored as Postgres does (the startup packet names the role).
  // Returns server-first-message "r=<c-nonce><s-nonce>,s=<base64 salt>,i=<iterations>".
  // Errors: malformed_message, unsupported_feature, invalid_nonce, out_of_order.
  [[nodiscard]] boost::system::result<std::string> handle_client_first(std::string_view message);

  // Parses client-final-message: "c=" cbind "," "r=" nonce ["," ext ...] "," "p=" proof
  // and checks the proof against StoredKey in constant time.
  // Returns server-final-message "v=<base64 ServerSignature>".
  // Errors: malformed_message, channel_binding_mismatch, nonce_mismatch, invalid_proof,
  // out_of_order.
  [[nodiscard]] boost::system::result<std::string> handle_client_final(std::string_view message);

  // True once handle_client_final succeeded: the client proved it knows the password.
  [[nodiscard]] bool authenticated() const noexcept { return state_ == state::done; }
  // The gs2 flag the client sent; meaningful after handle_client_first succeeded.
  [[nodiscard]] scram_cbind_flag cbind_flag() const noexcept { return cbind_flag_; }
  // A short static description of the last failure for logs (never shown to an unauthenticated
  // client, never contains input bytes); empty if nothing failed.
  [[nodiscard]] std::string_view error_detail() const noexcept { return error_detail_; }
  // Once authenticated(): the ClientKey the proof revealed with the verifier's ServerKey, salt and
  // iterations, for logging in to Postgres as this client (pass-through). Empty before.
  [[nodiscard]] std::optional<scram_passthrough_keys> passthrough_keys() const;

  ~scram_server();
  scram_server(const scram_server&) = default;
  scram_server& operator=(const scram_server&) = default;

 private:
  enum class state { awaiting_client_first, awaiting_client_final, done, failed };
  boost::system::error_code fail(scram_errc e, std::string_view detail) noexcept;

  std::shared_ptr<scram_login_secret> secret_;
  std::string server_nonce_;
  state state_ = state::awaiting_client_first;
  scram_cbind_flag cbind_flag_ = scram_cbind_flag::not_supported;
  bool binding_offered_ = false;
  bool binding_selected_ = false;
  std::string end_point_hash_;
  std::string gs2_header_;
  std::string expected_cbind_;  // gs2 header, then the hash when bound: what "c=" must decode to
  std::string client_first_bare_;
  std::string server_first_;
  std::string nonce_;  // client nonce + server nonce
  std::string_view error_detail_;
  scram_key client_key_{};  // kept after a valid proof, for pass-through; wiped on destruction
};

// pgrelay as the SCRAM client, logging in to Postgres with a plaintext password. Sequence:
// PBKDF2 results (the SaltedPassword of RFC 5802) by (password, salt, iterations): a Postgres
// role keeps one salt, so every connection a pool opens to it would otherwise repeat the same
// 4096-iteration PBKDF2. Bounded to `capacity` entries (the oldest is replaced); entries are
// wiped on replacement and destruction. Not thread-safe: keep one per thread.
class scram_salted_password_cache {
 public:
  explicit scram_salted_password_cache(std::size_t capacity = 16) : capacity_(capacity == 0 ? 1 : capacity) {}
  ~scram_salted_password_cache();
  scram_salted_password_cache(const scram_salted_password_cache&) = delete;
  scram_salted_password_cache& operator=(const scram_salted_password_cache&) = delete;

  // Hi(password, salt, iterations), computed on the first request for that triple. Same
  // preconditions as compute_scram_verifier (iterations >= 1, salt non-empty).
  [[nodiscard]] scram_key salted_password(std::string_view password, std::string_view salt, int iterations);
  // The cached Hi for that triple, or nullptr; lets a caller run PBKDF2 elsewhere (off its event
  // loop) and insert() the result. The pointer is valid until the next insert.
  [[nodiscard]] const scram_key* find(std::string_view password, std::string_view salt, int iterations) const;
  void insert(std::string_view password, std::string_view salt, int iterations, const scram_key& salted);
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
  [[nodiscard]] std::size_t computations() const noexcept { return computations_; }  // PBKDF2 runs

 private:
  struct entry {
    std::string password;
    std::string salt;
    int iterations = 0;
    scram_key salted{};
  };
  static void wipe(entry& e) noexcept;
  std::size_t capacity_;
  std::vector<entry> entries_;
  std::size_t next_ = 0;  // the entry replaced when full
  std::size_t computations_ = 0;
};

// client_first -> SASLInitialResponse; handle_server_first(AuthenticationSASLContinue data) ->
// SASLResponse; handle_server_final(AuthenticationSASLFinal data); then expect AuthenticationOk.
// Sends gs2 header "n,," (no channel binding) unless bind_channel was called. Any error is final.
class scram_client {
 public:
  // `client_nonce` must satisfy is_valid_scram_nonce (make_scram_nonce(random_bytes(18)));
  // otherwise handle_server_first fails with scram_errc::invalid_nonce. `username` goes into
  // "n=" escaped per RFC 5802; Postgres ignores it, so the default is empty like libpq's.
  scram_client(std::string password, std::string client_nonce, std::string username = {});
  // Takes the salted password from `cache` (which must outlive the exchange) instead of running
  // PBKDF2 for every login.
  void use_cache(scram_salted_password_cache* cache) noexcept { cache_ = cache; }

  // Before client_first, when the server offered SCRAM-SHA-256-PLUS over TLS and the caller picked
  // it: binds the exchange to the server certificate's tls-server-end-point hash.
  void bind_channel(std::string end_point_hash);
  [[nodiscard]] bool bound() const noexcept { return !cbind_data_.empty(); }

  // Before handle_server_first: log in with a client's pass-through keys instead of the password
  // (which may then be empty). No PBKDF2 runs; a server whose salt or iteration count differs
  // from keys' fails with scram_errc::verifier_mismatch before any proof is sent.
  void use_passthrough(scram_passthrough_keys keys);
  // Before handle_server_first: Hi(password, salt, iterations) computed by the caller for the
  // salt and count the server-first carries (see parse_scram_server_first), e.g. on another
  // thread; handle_server_first then runs no PBKDF2.
  void use_salted_password(const scram_key& salted) noexcept;

  // client-first-message "n,,n=<user>,r=<nonce>". Calling it again returns the same text.
  [[nodiscard]] std::string client_first();

  // Parses server-first-message "r=<nonce>,s=<salt>,i=<iterations>[,ext...]", runs PBKDF2 and
  // returns client-final-message "c=biws,r=<nonce>,p=<base64 ClientProof>".
  // Errors: malformed_message, unsupported_feature ("m="), nonce_mismatch (does not extend our
  // nonce), invalid_iteration_count (< 1 or > scram_max_client_iterations), invalid_nonce,
  // out_of_order.
  [[nodiscard]] boost::system::result<std::string> handle_server_first(std::string_view message);

  // Parses server-final-message "v=<base64 ServerSignature>" or "e=<error>" and checks the
  // signature in constant time. Errors: malformed_message, server_error (text available from
  // server_error()), invalid_server_signature, out_of_order.
  [[nodiscard]] boost::system::result<void> handle_server_final(std::string_view message);

  // True once handle_server_final succeeded: the server proved it knows the verifier.
  [[nodiscard]] bool authenticated() const noexcept { return state_ == state::done; }
  // The "e=" value the server sent, or empty.
  [[nodiscard]] std::string_view server_error() const noexcept { return server_error_; }
  [[nodiscard]] std::string_view error_detail() const noexcept { return error_detail_; }

 private:
  enum class state { initial, awaiting_server_first, awaiting_server_final, done, failed };
  boost::system::error_code fail(scram_errc e, std::string_view detail) noexcept;

  std::string password_;
  std::string client_nonce_;
  std::string username_;
  std::string gs2_header_{"n,,"};
  std::string cbind_data_;  // gs2 header + end-point hash when bound
  state state_ = state::initial;
  std::string client_first_bare_;
  scram_key expected_server_signature_{};
  std::string server_error_;
  std::string_view error_detail_;
  scram_salted_password_cache* cache_ = nullptr;
  std::optional<scram_passthrough_keys> passthrough_;
  std::optional<scram_key> salted_;
};

// The salt and iteration count of a server-first-message, checked as handle_server_first checks
// them (errors: malformed_message, unsupported_feature, invalid_iteration_count): what a caller
// needs to compute or look up the salted password before handing the message to scram_client.
struct scram_server_first_params {
  std::string salt;  // raw bytes, non-empty
  int iterations = 0;
};
[[nodiscard]] boost::system::result<scram_server_first_params> parse_scram_server_first(std::string_view message);

}  // namespace pgrelay::protocol
