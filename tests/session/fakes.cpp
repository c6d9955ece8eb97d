#include "fakes.hpp"

#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "pgrelay/protocol/errors.hpp"
#include "pgrelay/protocol/frame.hpp"
#include "pgrelay/protocol/messages.hpp"
#include "pgrelay/protocol/startup.hpp"
#include "pgrelay/protocol/writer.hpp"

namespace pgrelay::session_test {

namespace pr = pgrelay::protocol;
using proxy::use_tuple;

// ---- messages -----------------------------------------------------------------------------

std::string encode(const message& m) {
  std::string out;
  pr::message_writer(out).begin(m.tag).bytes(m.body).end();
  return out;
}

std::string transcript::tags() const {
  std::string t;
  for (const auto& m : messages) t.push_back(m.tag);
  return t;
}

std::string transcript::bytes() const {
  std::string b;
  for (const auto& m : messages) b += encode(m);
  return b;
}

int transcript::count(char tag) const {
  int n = 0;
  for (const auto& m : messages) n += m.tag == tag ? 1 : 0;
  return n;
}

char transcript::ready_status() const {
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    if (it->tag == 'Z' && it->body.size() == 1) return it->body[0];
  }
  return '\0';
}

void expect(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("client: failed to ") + what);
}

const message* transcript::first(char tag) const {
  for (const auto& m : messages) {
    if (m.tag == tag) return &m;
  }
  return nullptr;
}

std::string sqlstate_of(const message& error) {
  pr::error_fields f;
  if (error.tag != 'E' || !pr::parse_error_fields(error.body, f)) return {};
  return std::string(f.code);
}

std::string text_of(const message& error) {
  pr::error_fields f;
  if (error.tag != 'E' || !pr::parse_error_fields(error.body, f)) return {};
  return std::string(f.message);
}

// ---- wire ---------------------------------------------------------------------------------

awaitable<bool> wire::fill() {
  char chunk[8192];
  auto [ec, n] = co_await socket.async_read_some(asio::buffer(chunk), use_tuple);
  if (ec) co_return false;
  buf_.append(chunk, n);
  co_return true;
}

awaitable<std::optional<message>> wire::read() {
  for (;;) {
    auto r = pr::decode_frame(buf_);
    if (r.status == pr::decode_status::ok) {
      message m{r.msg.tag, std::string(r.msg.body)};
      buf_.erase(0, r.msg.size());
      co_return m;
    }
    if (r.status != pr::decode_status::need_more) co_return std::nullopt;
    bool more = co_await fill();
    if (!more) co_return std::nullopt;
  }
}

awaitable<std::optional<std::string>> wire::read_startup() {
  for (;;) {
    auto p = pr::decode_startup(buf_);
    if (p.kind == pr::startup_kind::need_more) {
      bool more = co_await fill();
    if (!more) co_return std::nullopt;
      continue;
    }
    if (p.kind == pr::startup_kind::bad_length || p.kind == pr::startup_kind::malformed ||
        p.kind == pr::startup_kind::bad_version) {
      co_return std::nullopt;
    }
    std::string packet = buf_.substr(0, p.size);
    buf_.erase(0, p.size);
    co_return packet;
  }
}

awaitable<bool> wire::write(std::string bytes) {
  auto [ec, n] = co_await asio::async_write(socket, asio::buffer(bytes), use_tuple);
  (void)n;
  co_return !ec;
}

void wire::close() {
  boost::system::error_code ignored;
  socket.shutdown(unix_socket::shutdown_both, ignored);
  socket.close(ignored);
}

// ---- fake server --------------------------------------------------------------------------

std::string welcome(std::int32_t pid) {
  std::string out;
  for (const auto& [name, value] : welcome_parameters) pr::build::parameter_status(out, name, value);
  pr::build::backend_key_data(out, pid, "\x01\x02\x03\x04");
  pr::build::ready_for_query(out, pr::transaction_status::idle);
  return out;
}

std::string row_description(std::string_view column) {
  std::string out;
  std::string_view cols[] = {column};
  pr::build::row_description_text(out, cols);
  return out;
}

std::string data_row(std::string_view value) {
  std::string out;
  std::string_view values[] = {value};
  pr::build::data_row_text(out, values);
  return out;
}

std::string command_complete(std::string_view tag) {
  std::string out;
  pr::build::command_complete(out, tag);
  return out;
}

std::string ready(char status) {
  std::string out;
  pr::build::ready_for_query(out, static_cast<pr::transaction_status>(status));
  return out;
}

std::string error(std::string_view severity, std::string_view code, std::string_view text) {
  std::string out;
  auto sev = severity == "FATAL" ? pr::severity::fatal : pr::severity::error;
  pr::build::error_response(out, sev, code, text);
  return out;
}

std::string select_one() { return row_description("?column?") + data_row("1") + command_complete("SELECT 1") + ready(); }

std::string default_answer(std::string_view sql, int /*conn*/) {
  std::string lower;
  for (char c : sql) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (lower == "begin") return command_complete("BEGIN") + ready('T');
  if (lower == "commit") return command_complete("COMMIT") + ready('I');
  if (lower == "rollback") return command_complete("ROLLBACK") + ready('I');
  return select_one();
}

awaitable<bool> accept_login(wire& w, int conn) {
  std::string out;
  pr::build::authentication_ok(out);
  out += welcome(1000 + conn);
  bool ok = co_await w.write(std::move(out));
  co_return ok;
}

awaitable<void> serve_queries(wire& w, int conn, const responder& answer) {
  for (;;) {
    auto m = co_await w.read();
    if (!m || m->tag == 'X') co_return;
    if (m->tag != 'Q') continue;
    std::string_view sql;
    (void)pr::parse_query(m->body, sql);
    auto reply = answer(sql, conn);
    bool ok = co_await w.write(std::move(reply));
    if (!ok) co_return;
  }
}

namespace {
awaitable<void> standard_session(wire& w, int conn, const responder& answer) {
  bool ok = co_await accept_login(w, conn);
  if (ok) co_await serve_queries(w, conn, answer);
  co_return;
}
}  // namespace

server_script standard_server(responder answer) {
  return [answer](wire& w, int conn) { return standard_session(w, conn, answer); };
}

struct fake_server::state {
  state(asio::io_context& io, server_script s) : acceptor(io), script(std::move(s)) {}
  unix_acceptor acceptor;
  server_script script;
  int sessions = 0;
  int cancels = 0;
  std::vector<std::map<std::string, std::string>> startups;
};

namespace {

awaitable<void> serve(std::shared_ptr<fake_server::state> st, unix_socket s) {
  wire w(std::move(s));
  auto packet = co_await w.read_startup();
  if (!packet) co_return;
  auto p = pr::decode_startup(*packet);
  if (p.kind == pr::startup_kind::cancel_request) {
    ++st->cancels;
    co_return;
  }
  std::map<std::string, std::string> params;
  for (const auto& [name, value] : p.params) params.emplace(name, value);
  st->startups.push_back(std::move(params));
  int conn = ++st->sessions;
  co_await st->script(w, conn);
  w.close();
}

awaitable<void> accept_loop(std::shared_ptr<fake_server::state> st) {
  for (;;) {
    auto [ec, s] = co_await st->acceptor.async_accept(use_tuple);
    if (ec) co_return;
    asio::co_spawn(st->acceptor.get_executor(), serve(st, std::move(s)), asio::detached);
  }
}

}  // namespace

fake_server::fake_server(asio::io_context& io, std::string path, server_script script)
    : state_(std::make_shared<state>(io, std::move(script))) {
  auto& acc = state_->acceptor;
  acc.open();
  acc.bind(unix_stream::endpoint(path));
  acc.listen();
  asio::co_spawn(io, accept_loop(state_), asio::detached);
}

fake_server::~fake_server() {
  boost::system::error_code ignored;
  state_->acceptor.close(ignored);
}

int fake_server::sessions() const { return state_->sessions; }
int fake_server::cancels() const { return state_->cancels; }
const std::vector<std::map<std::string, std::string>>& fake_server::startups() const { return state_->startups; }

// ---- fake client --------------------------------------------------------------------------

std::string query(std::string_view sql) {
  std::string out;
  pr::build::query(out, sql);
  return out;
}

awaitable<bool> fake_client::connect(const std::string& path) {
  auto [ec] = co_await wire_.socket.async_connect(unix_stream::endpoint(path), use_tuple);
  co_return !ec;
}

awaitable<transcript> fake_client::login(std::string user, std::string database) {
  std::string out;
  std::pair<std::string_view, std::string_view> params[] = {{"user", user}, {"database", database}};
  pr::build::startup_message(out, params);
  bool sent = co_await wire_.write(out);
  if (!sent) co_return transcript{{}, true, {}};
  co_return co_await read_until_ready();
}

awaitable<transcript> fake_client::read_until(char tag) {
  transcript t;
  for (;;) {
    auto m = co_await wire_.read();
    if (!m) {
      t.eof = true;
      t.leftover = wire_.buffered();
      co_return t;
    }
    t.messages.push_back(std::move(*m));
    if (tag != '\0' && t.messages.back().tag == tag) co_return t;
  }
}

// ---- harness ------------------------------------------------------------------------------

harness::harness(server_script script, harness_options options) {
  spdlog::set_level(std::getenv("PGRELAY_SESSION_LOG") ? spdlog::level::debug : spdlog::level::off);
  char tmpl[] = "/tmp/pgrelay-session-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir = tmpl;
  listen_path = dir + "/pgrelay.sock";
  server_path = dir + "/postgres.sock";

  auto cfg = std::make_shared<conf::config>();
  cfg->listen = {conf::endpoint{.unix_path = listen_path}};
  cfg->workers = 1;
  cfg->auth.method = conf::auth_method::trust;
  cfg->pool.mode = options.mode;
  cfg->pool.size = options.pool_size;
  cfg->pool.connect_timeout = millis(2000);
  cfg->pool.wait_timeout = millis(2000);
  cfg->auth_timeout = millis(3000);
  conf::database_config db;
  db.name = "app";
  db.primary = conf::endpoint{.unix_path = server_path};
  db.server_password = options.server_password;
  cfg->databases["app"] = db;
  shared_.config = cfg;
  shared_.users = std::make_shared<proxy::users_map>();

  worker_ = std::make_unique<proxy::worker>(0, shared_);
  server_ = std::make_unique<fake_server>(worker_->io(), server_path, std::move(script));
  worker_->start_listening();
}

harness::~harness() {
  // Shut down as pgrelay does on SIGTERM: let sessions wind down, stop accepting, stop pools.
  // (Destroying a worker whose listeners were never cleared closes their acceptors after the
  // io_context is gone.)
  try {
    settle(millis(20));
    server_.reset();
    shared_.shutting_down = true;
    worker_->stop();
    worker_->io().run_for(millis(500));
  } catch (...) {
  }
  worker_.reset();
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

std::string harness::run(std::function<awaitable<void>()> client, millis limit) {
  clients_.push_back(std::move(client));
  struct outcome {
    bool done = false;
    std::exception_ptr error;
  };
  auto result = std::make_shared<outcome>();
  asio::co_spawn(worker_->io(), clients_.back()(), [result](std::exception_ptr e) {
    result->done = true;
    result->error = e;
  });
  auto& io = worker_->io();
  auto deadline = proxy::clock::now() + limit;
  while (!result->done && proxy::clock::now() < deadline) io.run_one_until(deadline);
  if (!result->done) return "timed out after " + std::to_string(limit.count()) + " ms";
  if (result->error) {
    try {
      std::rethrow_exception(result->error);
    } catch (const std::exception& e) {
      return e.what();
    } catch (...) {
      return "client: unknown exception";
    }
  }
  return "done";
}

void harness::settle(millis d) { worker_->io().run_for(d); }

}  // namespace pgrelay::session_test
