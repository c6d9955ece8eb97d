// Client login: the first packet (SSL/GSS negotiation, cancel, startup), SCRAM authentication
// against the users file, and the welcome (ParameterStatus, BackendKeyData, ReadyForQuery).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>

#include "auth_lookup.hpp"
#include "client_session.hpp"
#include "pgrelay/core/log_text.hpp"
#include "pgrelay/protocol/errors.hpp"
#include "pgrelay/protocol/messages.hpp"
#include "pgrelay/protocol/scram.hpp"
#include "pgrelay/protocol/startup.hpp"
#include "pgrelay/protocol/writer.hpp"
#include "pool.hpp"
#include "worker.hpp"

namespace pgrelay::proxy {

namespace pr = pgrelay::protocol;

namespace {

// One of max_pending_logins, held from the first packet until the client has authenticated.
class pending_login {
 public:
  explicit pending_login(std::atomic<std::uint32_t>& count) : count_(&count) {}
  pending_login(const pending_login&) = delete;
  pending_login& operator=(const pending_login&) = delete;
  ~pending_login() { release(); }
  bool take(std::uint32_t max) {
    if (count_->fetch_add(1) < max) return true;
    release();
    return false;
  }
  void release() {
    if (count_) count_->fetch_sub(1);
    count_ = nullptr;
  }

 private:
  std::atomic<std::uint32_t>* count_;
};

bool truthy(std::string_view v) {
  return !(v.empty() || v == "0" || v == "false" || v == "off" || v == "no");
}

// Key of a set of wanted parameters, for the per-pool cache of validated sets.
std::string params_key(const core::param_map& m) {
  std::string k;
  for (const auto& [name, value] : m) {
    k += name;
    k.push_back('\0');
    k += value;
    k.push_back('\0');
  }
  return k;
}

// The ParameterStatus messages of what `server` reported, in the spelling it used.
std::string status_messages(const server_connection& server) {
  std::string out;
  const auto& names = server.reported_names();
  for (const auto& [name, value] : server.reported()) {
    auto n = names.find(name);
    pr::build::parameter_status(out, n != names.end() ? n->second : name, value);
  }
  return out;
}

}  // namespace

awaitable<bool> client_session::read_startup(pr::startup_packet& packet, std::string& storage) {
  for (;;) {
    packet = pr::decode_startup(client_io_->in.data());
    switch (packet.kind) {
      case pr::startup_kind::need_more:
        if (!co_await read_client_some()) co_return false;
        continue;
      case pr::startup_kind::ssl_request:
        client_io_->in.consume(packet.size);
        if (!co_await answer_ssl_request()) co_return false;
        continue;
      case pr::startup_kind::gssenc_request: {
        client_io_->in.consume(packet.size);
        std::string no;
        pr::build::ssl_response(no, false);  // GSSAPI encryption is not offered
        if (!co_await write_client(no)) co_return false;
        continue;
      }
      case pr::startup_kind::bad_length:
        // As Postgres: a length it cannot trust is logged, never answered (a Terminate sent
        // before the startup packet, as node-postgres does, lands here).
        spdlog::info("client {}: invalid length of startup packet; closing", peer_);
        core_.reason = disconnect_reason::protocol_error;
        co_return false;
      case pr::startup_kind::malformed:
        spdlog::warn("client {}: invalid startup packet", peer_);
        core_.reason = disconnect_reason::protocol_error;
        co_await fail(pr::sqlstate::protocol_violation, "invalid startup packet layout");
        co_return false;
      case pr::startup_kind::bad_version: {
        core_.reason = disconnect_reason::protocol_error;
        const std::string message = "unsupported frontend protocol " + std::to_string(packet.version >> 16) + "." +
                                    std::to_string(packet.version & 0xffff) + ": pgrelay supports 3.0";
        co_await fail(pr::sqlstate::feature_not_supported, message);
        co_return false;
      }
      default: {
        // Keep the bytes alive for the views in `packet`.
        storage.assign(client_io_->in.data().substr(0, packet.size));
        client_io_->in.consume(packet.size);
        packet = pr::decode_startup(storage);
        co_return true;
      }
    }
  }
}

awaitable<bool> client_session::answer_ssl_request() {
  const auto& tls = worker_.current_tls();
  const bool offer = tls && tls->towards_clients && !client_stream_.encrypted() && !over_unix_socket();
  if (client_stream_.encrypted()) {
    // A second SSLRequest inside TLS: Postgres treats it as a protocol violation too.
    core_.reason = disconnect_reason::protocol_error;
    co_await fail(pr::sqlstate::protocol_violation, "SSLRequest received on an encrypted connection");
    co_return false;
  }
  if (offer && !client_io_->in.empty()) {
    // Bytes sent before the handshake would be taken as if they came through TLS
    // (CVE-2021-23222's class of injection): refuse, as Postgres does.
    spdlog::warn("client {}: plaintext bytes after SSLRequest; closing", peer_);
    core_.reason = disconnect_reason::protocol_error;
    co_await fail(pr::sqlstate::protocol_violation, "received unencrypted data after SSL request");
    co_return false;
  }
  std::string answer;
  pr::build::ssl_response(answer, offer);
  if (!co_await write_client(answer)) co_return false;
  if (!offer) co_return true;
  if (auto ec = co_await client_stream_.accept_tls(tls)) {
    spdlog::info("client {}: TLS handshake failed: {}", peer_, ec.message());
    core_.reason = disconnect_reason::protocol_error;
    co_return false;
  }
  co_return true;
}

awaitable<bool> client_session::login() {
  worker_.shared().logins_begun.fetch_add(1, std::memory_order_relaxed);
  pending_login slot(worker_.shared().pending_logins);
  if (const auto max = worker_.current_config()->max_pending_logins; !slot.take(max)) {
    // Refused before reading anything: a flood of half-open logins must cost us no more.
    spdlog::warn("client {}: refused, too many connections awaiting authentication (max_pending_logins {})", peer_,
                 max);
    core_.reason = disconnect_reason::login_failed;
    co_await fail(pr::sqlstate::too_many_connections, "sorry, too many clients already");
    co_return false;
  }
  pr::startup_packet packet;
  std::string storage;
  if (!co_await read_startup(packet, storage)) co_return false;
  if (packet.kind == pr::startup_kind::cancel_request) {
    std::string key(packet.cancel_key);  // named, not a temporary: GCC 12 destroys those twice
    co_await handle_cancel_request(packet.cancel_pid, std::move(key));
    core_.reason = disconnect_reason::client_eof;
    co_return false;
  }
  core_.reason = disconnect_reason::login_failed;
  if (!co_await accept_startup(packet)) co_return false;
  config_ = worker_.current_config();
  // Nothing is told before authentication, not even whether the database exists (as Postgres):
  // unknown databases and users get the same exchange as known ones.
  if (!co_await authenticate(core_.who.user)) co_return false;
  slot.release();
  if ((core_.who.database == "pgrelay" || core_.who.database == "pgbouncer") &&
      !config_->databases.contains(core_.who.database)) {
    co_return co_await open_admin_console();
  }
  if (!config_->databases.contains(core_.who.database)) {
    co_await fail(pr::sqlstate::invalid_catalog_name, "database \"" + core_.who.database + "\" does not exist");
    co_return false;
  }
  if (truthy(packet.param("replication"))) {
    // Relayed by run() once login is over: a stream is no login and has no login deadline.
    auto& params = core_.who.login_box().replication_params.emplace();
    for (const auto& [name, value] : packet.params) params.emplace_back(name, value);
    co_return true;
  }
  co_return co_await join_pool(packet);
}

awaitable<bool> client_session::accept_startup(const pr::startup_packet& packet) {
  if (const auto& tls = worker_.current_tls(); tls && tls->client_mode == conf::client_tls_mode::require &&
                                               !client_stream_.encrypted() && !over_unix_socket()) {
    // Before any password exchange: a plaintext client must not send even a SCRAM proof.
    spdlog::info("client {}: refused, TLS is required (tls.client.mode: require)", peer_);
    co_await fail(pr::sqlstate::invalid_authorization,
                  "TLS is required: connect with sslmode=require (or verify-full)");
    co_return false;
  }
  core_.who.user = std::string(packet.param("user"));
  core_.who.database = std::string(packet.param("database"));
  if (core_.who.database.empty()) core_.who.database = core_.who.user;
  if (core_.who.user.empty()) {
    co_await fail(pr::sqlstate::invalid_authorization, "no PostgreSQL user name specified in startup packet");
    co_return false;
  }
  // Minor versions above 3.0 and _pq_ options: answer what we speak, as Postgres does.
  std::vector<std::string_view> unknown_options;
  for (const auto& [name, value] : packet.params) {
    if (name.starts_with("_pq_.")) unknown_options.push_back(name);
  }
  if (packet.version != pr::protocol_3_0 || !unknown_options.empty()) {
    pr::message_writer w(client_io_->out);
    w.begin('v').i32(pr::protocol_3_0).i32(static_cast<std::int32_t>(unknown_options.size()));
    for (auto o : unknown_options) w.cstring(o);
    w.end();
  }
  co_return true;
}

awaitable<bool> client_session::open_admin_console() {
  const auto& admins = config_->auth.admin_users;
  if (std::find(admins.begin(), admins.end(), core_.who.user) == admins.end()) {
    spdlog::warn("client {}: user {} refused the admin console (not in auth.admin_users)", peer_, core_.who.user);
    co_await fail(pr::sqlstate::insufficient_privilege, "permission denied for the admin console: user \"" +
                                                            core_.who.user + "\" is not in auth.admin_users");
    co_return false;
  }
  core_.who.admin = true;
  stats_ = &worker_.stats_for("");
  pr::build::parameter_status(client_io_->out, "server_version", "15.0 (pgrelay)");
  pr::build::parameter_status(client_io_->out, "server_encoding", "UTF8");
  pr::build::parameter_status(client_io_->out, "client_encoding", "UTF8");
  pr::build::parameter_status(client_io_->out, "DateStyle", "ISO, MDY");
  pr::build::parameter_status(client_io_->out, "integer_datetimes", "on");
  pr::build::parameter_status(client_io_->out, "standard_conforming_strings", "on");
  pr::build::backend_key_data(client_io_->out, 0, std::string(4, '\0'));
  pr::build::ready_for_query(client_io_->out, pr::transaction_status::idle);
  co_return co_await write_client({});
}

awaitable<bool> client_session::join_pool(const pr::startup_packet& packet) {
  if (db_config().login == conf::server_login::passthrough) {
    const auto& login = core_.who.login_box();
    worker_.set_login_keys(core_.who.database, core_.who.user, login.keys, login.keys_source);
  }
  // The worker keeps what its pools log in with; a copy per idle client would cost 120 bytes
  // each and one more place holding a secret as strong as the password.
  core_.who.login.reset();
  primary_pool_ = pool_ = worker_.pool_for(core_.who.database, core_.who.user);
  core_.routing.pick = worker_.next_route_pick();
  registry_ = &worker_.statements_for(core_.who.database, core_.who.user);
  if (!pool_) {
    co_await fail(pr::sqlstate::invalid_catalog_name, "database \"" + core_.who.database + "\" does not exist");
    co_return false;
  }
  auto& budget = pool_->budget();
  if (budget.clients.fetch_add(1) >= pool_->settings().max_clients) {
    budget.clients.fetch_sub(1);
    co_await fail(
        pr::sqlstate::too_many_connections,
        "too many client connections for database \"" + core_.who.database + "\" and user \"" + core_.who.user + "\"");
    co_return false;
  }
  core_.counted_client = true;
  stats_ = &worker_.stats_for(core_.who.database);
  ++stats_->clients_connected;
  core_.who.session_mode = pool_->settings().mode == conf::pool_mode::session;
  if (!core_.who.session_mode) core_.statements.emplace(*registry_);
  if (!co_await take_startup_settings(packet)) co_return false;
  co_return co_await establish_parameters();
}

awaitable<bool> client_session::take_startup_settings(const pr::startup_packet& packet) {
  core::param_map wanted;
  for (const auto& [name, value] : packet.params) {
    if (core::is_connection_param(name) || name.starts_with("_pq_.")) continue;
    wanted[core::normalize_param_name(name)] = std::string(value);
  }
  if (auto options = packet.param("options"); !options.empty()) {
    auto parsed = core::parse_options(options);
    if (!parsed) {
      co_await fail("22023", "invalid options in startup packet: pgrelay accepts -c name=value and --name=value");
      co_return false;
    }
    for (auto& [name, value] : *parsed) wanted[core::normalize_param_name(name)] = value;
  }
  core_.who.application_name = wanted.contains("application_name") ? wanted["application_name"] : "";
  core_.ledger.start(pool_->shared_settings(wanted));
  co_return true;
}

awaitable<bool> client_session::authenticate(const std::string& user) {
  const auto& cfg = *config_;
  if (cfg.auth.method == conf::auth_method::trust) {
    pr::build::authentication_ok(client_io_->out);
    co_return true;
  }
  auto secret = co_await find_user_secret(worker_, cfg, core_.who.database, user);
  bool known = false;
  auto login_secret = login_secret_or_mock(worker_, secret, user, known);
  const bool can_bind = offer_sasl_mechanisms();
  if (!co_await write_client({})) co_return false;

  pr::scram_server scram(std::move(login_secret), pr::make_scram_nonce(pr::random_bytes(pr::scram_nonce_random_length)));
  auto first = co_await read_password_message();
  pr::sasl_initial_view initial;
  if (!first || !pr::parse_sasl_initial_response(*first, initial)) {
    co_await fail(pr::sqlstate::protocol_violation, "expected SASL initial response");
    co_return false;
  }
  const bool plus = can_bind && initial.mechanism == pr::scram_sha_256_plus_mechanism;
  if (initial.mechanism != pr::scram_sha_256_mechanism && !plus) {
    co_await fail(pr::sqlstate::invalid_authorization, "client selected an invalid SASL authentication mechanism");
    co_return false;
  }
  if (can_bind) scram.offer_channel_binding(client_stream_.contexts()->end_point_hash, plus);
  auto server_first = scram.handle_client_first(initial.data);
  if (!server_first) {
    co_await fail(pr::sqlstate::protocol_violation, "malformed SCRAM message");
    co_return false;
  }
  pr::build::authentication_sasl_continue(client_io_->out, *server_first);
  if (!co_await write_client({})) co_return false;
  auto final_msg = co_await read_password_message();
  if (!final_msg) {
    co_await fail(pr::sqlstate::protocol_violation, "expected SASL response");
    co_return false;
  }
  auto server_final = scram.handle_client_final(*final_msg);
  if (!server_final || !known) {
    const bool bad_proof = !server_final ? server_final.error() == pr::scram_errc::invalid_proof : true;
    // A named local, not a temporary in the co_await: GCC 12 destroys a conditional's temporary
    // in a co_await argument twice (double free).
    const std::string why =
        known ? std::string(scram.error_detail()) + " against the verifier from " + secret.source : secret.detail;
    co_await refuse_login(user, bad_proof, why, known && secret.source == "auth.query");
    co_return false;
  }
  if (auto keys = scram.passthrough_keys()) {
    auto& login = core_.who.login_box();
    login.keys = std::make_shared<const pr::scram_passthrough_keys>(std::move(*keys));
    login.keys_source = secret.source;
  }
  pr::build::authentication_sasl_final(client_io_->out, *server_final);
  pr::build::authentication_ok(client_io_->out);
  co_return true;
}

bool client_session::offer_sasl_mechanisms() {
  // Over TLS, SCRAM-SHA-256-PLUS binds the proof to pgrelay's certificate, so a man in the middle
  // with another certificate cannot relay it.
  const bool can_bind = client_stream_.encrypted() && !client_stream_.contexts()->end_point_hash.empty();
  std::vector<std::string_view> mechanisms;
  if (can_bind) mechanisms.push_back(pr::scram_sha_256_plus_mechanism);
  mechanisms.push_back(pr::scram_sha_256_mechanism);
  pr::build::authentication_sasl(client_io_->out, mechanisms);
  return can_bind;
}

awaitable<std::optional<std::string>> client_session::read_password_message() {
  for (;;) {
    auto r = pr::decode_frame(client_io_->in.data(), 64 * 1024);
    if (r.status == pr::decode_status::ok) {
      if (r.msg.tag != 'p') co_return std::nullopt;
      std::string body(r.msg.body);
      client_io_->in.consume(r.msg.size());
      co_return body;
    }
    if (r.status != pr::decode_status::need_more) co_return std::nullopt;
    if (!co_await read_client_some()) co_return std::nullopt;
  }
}

awaitable<void> client_session::refuse_login(const std::string& user, bool bad_proof, const std::string& why,
                                             bool refetch) {
  // A changed password in Postgres: fetch again next time instead of serving the old verifier.
  if (refetch) forget_user_secret(worker_, core_.who.database, user);
  spdlog::info("client {}: authentication failed for user \"{}\" ({})", peer_, core::log_escape(user), why);
  if (bad_proof) {
    co_await fail(pr::sqlstate::invalid_password, "password authentication failed for user \"" + user + "\"");
  } else {
    co_await fail(pr::sqlstate::protocol_violation, "malformed SCRAM message");
  }
}

awaitable<bool> client_session::establish_parameters() {
  auto key = params_key(core_.ledger.wanted());
  const std::string* status = nullptr;
  std::string learnt;
  if (!core_.who.session_mode) {
    auto it = pool_->validated_status_.find(key);
    if (it != pool_->validated_status_.end()) status = &it->second;
  }
  if (!status) {
    // First client with these settings (or session mode): check them on a real server.
    if (co_await attach_server() != attach_result::attached) co_return false;
    learnt = status_messages(*server_);
    status = &learnt;
    if (!core_.who.session_mode) {
      // Bounded: clients that each send a unique application_name must not grow it forever.
      if (pool_->validated_status_.size() >= 1024) pool_->validated_status_.clear();
      pool_->validated_status_[key] = learnt;
      release_server(true);
    }
  }
  client_io_->out += *status;
  // pgrelay's own pid and key in both pool modes: a server's real key would outlive this client
  // (session mode hands the server to the next one after DISCARD ALL) and cancel its queries.
  std::string key_bytes;
  auto pid = worker_.shared().cancels.add(*this, key_bytes);
  cancel_pid_ = pid;
  pr::build::backend_key_data(client_io_->out, pid, key_bytes);
  pr::build::ready_for_query(client_io_->out, pr::transaction_status::idle);
  co_return co_await write_client({});
}

awaitable<void> client_session::relay_replication() {
  // Logical decoding and physical streaming are one long session each: never pooled, always
  // to the primary, with the client's own startup parameters, counted on their own.
  const auto& db = db_config();
  // As the client's own role whatever server_login says, so Postgres decides whether it may
  // replicate: server_user's REPLICATION must not be lent to every client.
  server_target target{db.primary,
                       db.server_database.empty() ? core_.who.database : db.server_database,
                       core_.who.user,
                       {},
                       {},
                       worker_.current_tls(),
                       config_->tls.server_allow_password_without_tls};
  const auto& login = core_.who.login_box();
  target.passthrough = login.keys;
  target.passthrough_source = login.keys_source;
  std::string mode;
  for (const auto& [name, value] : *login.replication_params) {
    if (name == "replication") mode = value;
    if (name != "user" && name != "database") target.extra_params.emplace_back(name, value);
  }
  server_connection server(socket_.get_executor());
  auto err = co_await server.open(target, millis(10000));
  if (err) {
    co_await fail(err.sqlstate, err.message);
    co_return;
  }
  worker_.shared().replication_connections.fetch_add(1);
  spdlog::info("client {}: replication connection ({}) relayed to {}", peer_, core::log_escape(mode),
               db.primary.to_string());
  client_io_->out += status_messages(server);
  pr::build::backend_key_data(client_io_->out, server.backend_pid(), server.backend_key());
  pr::build::ready_for_query(client_io_->out, pr::transaction_status::idle);
  if (co_await write_client({})) {
    auto pipe = [](byte_stream& from, byte_stream& to, byte_buffer& leftover) -> awaitable<void> {
      if (!leftover.empty()) {
        auto [ec, n] = co_await to.write(asio::buffer(leftover.data().data(), leftover.size()));
        (void)n;
        if (ec) co_return;
        leftover.consume(leftover.size());
      }
      std::vector<char> chunk(65536);
      for (;;) {
        auto [rec, n] = co_await from.read_some(asio::buffer(chunk));
        if (rec) co_return;
        auto [wec, m] = co_await to.write(asio::buffer(chunk.data(), n));
        (void)m;
        if (wec) co_return;
      }
    };
    using namespace asio::experimental::awaitable_operators;
    co_await (pipe(client_stream_, server.stream(), client_io_->in) ||
              pipe(server.stream(), client_stream_, server.read_buf()));
  }
  server.close();
  worker_.shared().replication_connections.fetch_sub(1);
  core_.reason = disconnect_reason::client_eof;
}

awaitable<void> client_session::handle_cancel_request(std::int32_t pid, std::string key) {
  auto found = worker_.shared().cancels.find(pid, key);
  if (!found) {
    spdlog::info("client {}: cancel request with an unknown key ignored", peer_);
    co_return;
  }
  asio::post(found->executor, [weak = found->session] {
    if (auto s = weak.lock()) s->forward_cancel();
  });
}

}  // namespace pgrelay::proxy
