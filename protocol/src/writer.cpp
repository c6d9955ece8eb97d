// Message writer and the builders of every message pgrelay originates.
#include "pgrelay/protocol/writer.hpp"

#include "pgrelay/protocol/startup.hpp"

namespace pgrelay::protocol {

message_writer& message_writer::begin(char tag) {
  out_.push_back(tag);
  return begin_untagged();
}

message_writer& message_writer::begin_untagged() {
  start_ = out_.size();
  out_.append(4, '\0');
  return *this;
}

message_writer& message_writer::u8(std::uint8_t v) {
  out_.push_back(static_cast<char>(v));
  return *this;
}

message_writer& message_writer::i16(std::int16_t v) {
  auto u = static_cast<std::uint16_t>(v);
  out_.push_back(static_cast<char>(u >> 8));
  out_.push_back(static_cast<char>(u & 0xff));
  return *this;
}

message_writer& message_writer::i32(std::int32_t v) {
  auto u = static_cast<std::uint32_t>(v);
  out_.push_back(static_cast<char>(u >> 24));
  out_.push_back(static_cast<char>((u >> 16) & 0xff));
  out_.push_back(static_cast<char>((u >> 8) & 0xff));
  out_.push_back(static_cast<char>(u & 0xff));
  return *this;
}

message_writer& message_writer::cstring(std::string_view s) {
  out_.append(s);
  out_.push_back('\0');
  return *this;
}

message_writer& message_writer::bytes(std::string_view s) {
  out_.append(s);
  return *this;
}

void message_writer::end() {
  auto len = static_cast<std::uint32_t>(out_.size() - start_);
  out_[start_] = static_cast<char>(len >> 24);
  out_[start_ + 1] = static_cast<char>((len >> 16) & 0xff);
  out_[start_ + 2] = static_cast<char>((len >> 8) & 0xff);
  out_[start_ + 3] = static_cast<char>(len & 0xff);
}

namespace build {

namespace {
void auth(std::string& out, int code, std::string_view data) {
  message_writer w(out);
  w.begin('R').i32(code).bytes(data).end();
}
}  // namespace

void authentication_ok(std::string& out) { auth(out, 0, {}); }

void authentication_sasl(std::string& out, std::span<const std::string_view> mechanisms) {
  message_writer w(out);
  w.begin('R').i32(10);
  for (auto m : mechanisms) w.cstring(m);
  w.u8(0).end();
}

void authentication_sasl_continue(std::string& out, std::string_view data) { auth(out, 11, data); }
void authentication_sasl_final(std::string& out, std::string_view data) { auth(out, 12, data); }
void authentication_md5(std::string& out, std::string_view salt4) { auth(out, 5, salt4); }

void parameter_status(std::string& out, std::string_view name, std::string_view value) {
  message_writer w(out);
  w.begin('S').cstring(name).cstring(value).end();
}

void backend_key_data(std::string& out, std::int32_t pid, std::string_view secret) {
  message_writer w(out);
  w.begin('K').i32(pid).bytes(secret).end();
}

void ready_for_query(std::string& out, transaction_status status) {
  message_writer w(out);
  w.begin('Z').u8(static_cast<std::uint8_t>(status)).end();
}

void command_complete(std::string& out, std::string_view tag) {
  message_writer w(out);
  w.begin('C').cstring(tag).end();
}

void empty_query_response(std::string& out) {
  message_writer w(out);
  w.begin('I').end();
}

void parse_complete(std::string& out) {
  message_writer w(out);
  w.begin('1').end();
}

void close_complete(std::string& out) {
  message_writer w(out);
  w.begin('3').end();
}

void row_description_text(std::string& out, std::span<const std::string_view> columns) {
  message_writer w(out);
  w.begin('T').i16(static_cast<std::int16_t>(columns.size()));
  for (auto c : columns) {
    // table oid, column attnum, type oid (25 = text), typlen, typmod, format (text)
    w.cstring(c).i32(0).i16(0).i32(25).i16(-1).i32(-1).i16(0);
  }
  w.end();
}

void data_row_text(std::string& out, std::span<const std::string_view> values) {
  message_writer w(out);
  w.begin('D').i16(static_cast<std::int16_t>(values.size()));
  for (auto v : values) w.i32(static_cast<std::int32_t>(v.size())).bytes(v);
  w.end();
}

void ssl_response(std::string& out, bool accept) { out.push_back(accept ? 'S' : 'N'); }

void startup_message(std::string& out,
                     std::span<const std::pair<std::string_view, std::string_view>> params,
                     std::int32_t version) {
  message_writer w(out);
  w.begin_untagged().i32(version);
  for (const auto& [k, v] : params) w.cstring(k).cstring(v);
  w.u8(0).end();
}

void cancel_request(std::string& out, std::int32_t pid, std::string_view secret) {
  message_writer w(out);
  w.begin_untagged().i32(80877102).i32(pid).bytes(secret).end();
}

void ssl_request(std::string& out) {
  message_writer w(out);
  w.begin_untagged().i32(ssl_request_code).end();
}

void password_message(std::string& out, std::string_view password) {
  message_writer w(out);
  w.begin('p').cstring(password).end();
}

void sasl_initial_response(std::string& out, std::string_view mechanism, std::string_view data) {
  message_writer w(out);
  w.begin('p').cstring(mechanism).i32(static_cast<std::int32_t>(data.size())).bytes(data).end();
}

void sasl_response(std::string& out, std::string_view data) {
  message_writer w(out);
  w.begin('p').bytes(data).end();
}

void query(std::string& out, std::string_view sql) {
  message_writer w(out);
  w.begin('Q').cstring(sql).end();
}

void sync(std::string& out) {
  message_writer w(out);
  w.begin('S').end();
}

void flush(std::string& out) {
  message_writer w(out);
  w.begin('H').end();
}

void terminate(std::string& out) {
  message_writer w(out);
  w.begin('X').end();
}

void parse(std::string& out, std::string_view name, std::string_view sql,
           std::span<const std::int32_t> param_types) {
  message_writer w(out);
  w.begin('P').cstring(name).cstring(sql).i16(static_cast<std::int16_t>(param_types.size()));
  for (auto t : param_types) w.i32(t);
  w.end();
}

void bind_text(std::string& out, std::string_view portal, std::string_view statement,
               std::span<const std::string_view> params) {
  message_writer w(out);
  w.begin('B').cstring(portal).cstring(statement).i16(0);
  w.i16(static_cast<std::int16_t>(params.size()));
  for (auto p : params) w.i32(static_cast<std::int32_t>(p.size())).bytes(p);
  w.i16(0).end();
}

void describe(std::string& out, char kind, std::string_view name) {
  message_writer w(out);
  w.begin('D').u8(static_cast<std::uint8_t>(kind)).cstring(name).end();
}

void execute(std::string& out, std::string_view portal, std::int32_t max_rows) {
  message_writer w(out);
  w.begin('E').cstring(portal).i32(max_rows).end();
}

void close(std::string& out, char kind, std::string_view name) {
  message_writer w(out);
  w.begin('C').u8(static_cast<std::uint8_t>(kind)).cstring(name).end();
}

}  // namespace build
}  // namespace pgrelay::protocol
