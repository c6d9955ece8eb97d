// A single pass over the text with the lexical rules of Postgres's scanner that matter here:
// where a string, quoted identifier, dollar quote or comment starts and ends.
#include "pgrelay/router/cache_key.hpp"

#include "sql_text.hpp"

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

namespace pgrelay::router {

namespace {

// Byte classes, as in Postgres's scanner: identifier characters (ident_cont; bytes 0x80-0xFF are
// identifier characters, so "\xf1E'…'" is an identifier followed by a plain string, not an E'…'
// string), digits, and the bytes that may start a literal, quote or comment ("special").
enum : std::uint8_t { ident = 1, digit = 2, special = 4 };

constexpr std::array<std::uint8_t, 256> make_classes() {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    std::uint8_t v = 0;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' || c >= 0x80) v |= ident;
    if (c >= '0' && c <= '9') v |= digit | ident;
    if (c == '-' || c == '/' || c == '"' || c == '\'' || c == '$') v |= special;
    t[static_cast<std::size_t>(c)] = v;
  }
  return t;
}
constexpr auto classes = make_classes();

std::uint8_t class_of(char c) { return classes[static_cast<unsigned char>(c)]; }
bool ident_char(char c) { return (class_of(c) & ident) != 0; }
bool digit_char(char c) { return (class_of(c) & digit) != 0; }
bool alnum_char(char c) { return ident_char(c) && c != '_' && c != '$' && static_cast<unsigned char>(c) < 0x80; }

// Every byte that may end a run copied as is (a special byte or a digit) lies in '"'..'9'
// (0x22-0x39). Eight bytes at a time, the first index at or after `i` whose byte is in that
// range, or s.size(): most of a statement (keywords, names, spaces) is skipped word by word.
std::size_t next_candidate(std::string_view s, std::size_t i) {
  constexpr std::uint64_t ones = 0x0101010101010101ULL;
  constexpr std::uint64_t low7 = ones * 0x7F;
  constexpr std::uint64_t high = ones * 0x80;
  while (i + 8 <= s.size()) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    // Bit 7 of each byte of `in_range` is set when that byte is in 0x22..0x39 (a byte of 0x80
    // and above never is): Bit Twiddling Hacks' hasbetween(w, 0x21, 0x3A).
    const std::uint64_t low = w & low7;
    const std::uint64_t in_range = (ones * (0x7F + 0x3A) - low) & ~w & (low + ones * (0x7F - 0x21)) & high;
    if (in_range != 0) {
      const int bit = std::endian::native == std::endian::little ? std::countr_zero(in_range) : std::countl_zero(in_range);
      return i + static_cast<std::size_t>(bit / 8);
    }
    i += 8;
  }
  while (i < s.size() && static_cast<unsigned char>(s[i] - 0x22) > 0x39 - 0x22) ++i;
  return i;
}

// Copies a quoted run starting at s[i] (the opening quote) up to and including its end.
std::size_t copy_quoted(std::string_view s, std::size_t i, char quote, std::string& out) {
  const auto start = i++;
  while (i < s.size()) {
    auto close = s.find(quote, i);
    if (close == std::string_view::npos) {
      i = s.size();
      break;
    }
    i = close + 1;
    if (i < s.size() && s[i] == quote) {  // doubled quote: still inside
      ++i;
      continue;
    }
    break;
  }
  out.append(s.data() + start, i - start);
  return i;
}

// Skips a string literal starting at the quote s[i]; `backslashes` for E'...' strings. Returns
// the index after the closing quote, or npos when the literal is not terminated.
std::size_t skip_string(std::string_view s, std::size_t i, bool backslashes) {
  ++i;
  while (i < s.size()) {
    char c = s[i++];
    if (backslashes && c == '\\' && i < s.size()) {
      ++i;
    } else if (c == '\'') {
      if (i < s.size() && s[i] == '\'') {
        ++i;
        continue;
      }
      return i;
    }
  }
  return std::string_view::npos;
}

}  // namespace

std::string literal_free_key(std::string_view s) {
  std::string out;
  literal_free_key(s, out);
  return out;
}

void literal_free_key(std::string_view s, std::string& out) { scrub_literals(s, out, false); }

std::string log_safe_statement(std::string_view sql) {
  std::string out;
  scrub_literals(sql, out, true);
  return out;
}

namespace {

// Each scrub_* starts at s[i], appends its part of the key (or log line) to `out` and returns
// where the text goes on.

// '…' or E'…'.
std::size_t scrub_string(std::string_view s, std::size_t i, std::string& out, bool for_log) {
  bool escaped = !out.empty() && (out.back() == 'E' || out.back() == 'e') &&
                 (out.size() == 1 || !ident_char(out[out.size() - 2]));
  auto end = skip_string(s, i, escaped);
  if (end == std::string_view::npos) {
    // Unterminated: the text cannot parse, so it must not share a key (and the cached
    // classification) with a terminated literal. Keep the rest verbatim, except in a log
    // line (a statement cut short there may end inside a secret).
    out.append(for_log ? std::string_view("'") : s.substr(i));
    return s.size();
  }
  out += "''";
  return end;
}

// $tag$ … $tag$ (or a $1 parameter, copied as is).
std::size_t scrub_dollar(std::string_view s, std::size_t i, std::string& out, bool for_log) {
  auto close = s.find('$', i + 1);
  bool tag = close != std::string_view::npos;
  for (auto k = i + 1; tag && k < close; ++k) tag = ident_char(s[k]) && s[k] != '$';
  if (!tag || (i + 1 < s.size() && digit_char(s[i + 1]))) {
    out.push_back('$');
    return i + 1;
  }
  auto delim = s.substr(i, close - i + 1);
  auto end = s.find(delim, close + 1);
  end = end == std::string_view::npos ? s.size() : end + delim.size();
  if (for_log) {
    out.append(delim).append(delim);  // $tag$$tag$: an empty body, like '' for strings
  } else {
    out.append(s.substr(i, end - i));
  }
  return end;
}

// A number, which becomes 0.
std::size_t scrub_number(std::string_view s, std::size_t i, std::string& out) {
  while (i < s.size() && (alnum_char(s[i]) || s[i] == '.' || s[i] == '_')) {
    // "1e+5" is one number; in "1e+$x$" the sign is an operator (the scanner ends the number
    // at "1e"), and swallowing it would glue what follows onto the "0" of the key.
    bool exponent_sign = (s[i] == 'e' || s[i] == 'E') && i + 2 < s.size() && (s[i + 1] == '+' || s[i + 1] == '-') &&
                         digit_char(s[i + 2]);
    i += exponent_sign ? 2 : 1;
  }
  out.push_back('0');
  // "1." ends in a character that cannot continue an identifier; keep it so that what follows
  // ("1.$q$…$q$" opens a dollar quote) lexes the same in the key as in the text.
  if (s[i - 1] == '.') out.push_back('.');
  return i;
}

}  // namespace

void scrub_literals(std::string_view s, std::string& out, bool for_log) {
  out.clear();
  out.reserve(s.size() + 2);
  std::size_t i = 0;
  while (i < s.size()) {
    // A run of bytes copied as they are: anything but a special byte or a digit that starts a
    // number (one not glued to an identifier, as in "t1").
    const auto run = i;
    while ((i = next_candidate(s, i)) < s.size()) {
      const auto k = class_of(s[i]);
      if (k & special) break;
      if ((k & digit) && (i == 0 || !ident_char(s[i - 1]))) break;
      ++i;
    }
    if (i > run) out.append(s.data() + run, i - run);
    if (i >= s.size()) break;
    char c = s[i];
    bool after_ident = i > 0 && ident_char(s[i - 1]);
    if (c == '-' && i + 1 < s.size() && s[i + 1] == '-') {
      auto end = detail::line_comment_end(s, i);
      out.append(s.substr(i, end - i));
      i = end;
    } else if (c == '/' && i + 1 < s.size() && s[i + 1] == '*') {
      auto close = s.find("*/", i + 2);
      auto end = close == std::string_view::npos ? s.size() : close + 2;
      out.append(s.substr(i, end - i));
      i = end;
    } else if (c == '"') {
      i = copy_quoted(s, i, '"', out);
    } else if (c == '\'') {
      i = scrub_string(s, i, out, for_log);
    } else if (c == '$' && !after_ident) {
      i = scrub_dollar(s, i, out, for_log);
    } else if (digit_char(c) && !after_ident) {
      i = scrub_number(s, i, out);
    } else {
      out.push_back(c);
      ++i;
    }
  }
}

}  // namespace pgrelay::router

namespace pgrelay::router {

const classification& classification_cache::get(std::string_view sql, const function_catalog& catalog,
                                                lookup_order order) {
  if (order == lookup_order::text_first) {
    if (auto it = map_.find(sql); it != map_.end()) return it->second;
  }
  literal_free_key(sql, scratch_);
  if (auto it = map_.find(scratch_); it != map_.end()) return it->second;
  if (map_.size() >= capacity_) map_.clear();
  return map_.emplace(scratch_, classify(sql, catalog)).first->second;
}

}  // namespace pgrelay::router
