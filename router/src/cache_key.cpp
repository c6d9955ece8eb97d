// A single pass over the text with the lexical rules of Postgres's scanner that matter here:
// where a string, quoted identifier, dollar quote or comment starts and ends.
#include "pgrelay/router/cache_key.hpp"

#include <cctype>

namespace pgrelay::router {

namespace {

// As in Postgres's scanner (ident_cont), bytes 0x80-0xFF are identifier characters: "\xf1E'…'"
// is an identifier followed by a plain string, not an E'…' string.
bool ident_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) || c == '_' || c == '$' || u >= 0x80;
}

// Copies a quoted run starting at s[i] (the opening quote) up to and including its end.
std::size_t copy_quoted(std::string_view s, std::size_t i, char quote, std::string& out) {
  out.push_back(s[i++]);
  while (i < s.size()) {
    char c = s[i];
    out.push_back(c);
    ++i;
    if (c == quote) {
      if (i < s.size() && s[i] == quote) {  // doubled quote: still inside
        out.push_back(s[i++]);
        continue;
      }
      break;
    }
  }
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
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    bool after_ident = i > 0 && ident_char(s[i - 1]);
    if (c == '-' && i + 1 < s.size() && s[i + 1] == '-') {
      auto nl = s.find('\n', i);
      auto end = nl == std::string_view::npos ? s.size() : nl;
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
      bool escaped = !out.empty() && (out.back() == 'E' || out.back() == 'e') &&
                     (out.size() == 1 || !ident_char(out[out.size() - 2]));
      auto end = skip_string(s, i, escaped);
      if (end == std::string_view::npos) {
        // Unterminated: the text cannot parse, so it must not share a key (and the cached
        // classification) with a terminated literal. Keep the rest verbatim.
        out.append(s.substr(i));
        end = s.size();
      } else {
        out += "''";
      }
      i = end;
    } else if (c == '$' && !after_ident) {
      // $tag$ … $tag$ (or a $1 parameter, copied as is)
      auto close = s.find('$', i + 1);
      bool tag = close != std::string_view::npos;
      for (auto k = i + 1; tag && k < close; ++k) tag = ident_char(s[k]) && s[k] != '$';
      if (tag && !(i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])))) {
        auto delim = s.substr(i, close - i + 1);
        auto end = s.find(delim, close + 1);
        end = end == std::string_view::npos ? s.size() : end + delim.size();
        out.append(s.substr(i, end - i));
        i = end;
      } else {
        out.push_back(c);
        ++i;
      }
    } else if (std::isdigit(static_cast<unsigned char>(c)) && !after_ident) {
      while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '.' || s[i] == '_')) {
        // "1e+5" is one number; in "1e+$x$" the sign is an operator (the scanner ends the number
        // at "1e"), and swallowing it would glue what follows onto the "0" of the key.
        bool exponent_sign = (s[i] == 'e' || s[i] == 'E') && i + 2 < s.size() && (s[i + 1] == '+' || s[i + 1] == '-') &&
                             std::isdigit(static_cast<unsigned char>(s[i + 2]));
        i += exponent_sign ? 2 : 1;
      }
      out.push_back('0');
      // "1." ends in a character that cannot continue an identifier; keep it so that what follows
      // ("1.$q$…$q$" opens a dollar quote) lexes the same in the key as in the text.
      if (s[i - 1] == '.') out.push_back('.');
    } else {
      out.push_back(c);
      ++i;
    }
  }
  return out;
}

}  // namespace pgrelay::router

namespace pgrelay::router {

const classification& classification_cache::get(std::string_view sql, const function_catalog& catalog) {
  auto key = literal_free_key(sql);
  auto it = map_.find(key);
  if (it != map_.end()) return it->second;
  if (map_.size() >= capacity_) map_.clear();
  return map_.emplace(std::move(key), classify(sql, catalog)).first->second;
}

}  // namespace pgrelay::router
