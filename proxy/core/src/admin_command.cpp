// A small hand-written tokenizer: the console's grammar is a handful of words, and a statement
// that is not one of them must get a clear error rather than reach a server.
#include "pgrelay/core/admin_command.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <vector>

namespace pgrelay::core {

namespace {

struct token {
  std::string text;  // lowercased for words; unquoted for quoted strings
  char quote = 0;    // 0, '"' or '\''
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// nullopt on an unterminated quote.
std::optional<std::vector<token>> tokenize(std::string_view s) {
  std::vector<token> out;
  std::size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c)) || c == ';') {
      ++i;
    } else if (c == '-' && i + 1 < s.size() && s[i + 1] == '-') {
      while (i < s.size() && s[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < s.size() && s[i + 1] == '*') {
      auto end = s.find("*/", i + 2);
      if (end == std::string_view::npos) return std::nullopt;
      i = end + 2;
    } else if (c == '\'' || c == '"') {
      token t{{}, c};
      ++i;
      for (;;) {
        if (i >= s.size()) return std::nullopt;
        if (s[i] == c) {
          if (i + 1 < s.size() && s[i + 1] == c) {
            t.text.push_back(c);
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        t.text.push_back(s[i++]);
      }
      out.push_back(std::move(t));
    } else {
      auto start = i;
      while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i])) && s[i] != ';' && s[i] != '\'' &&
             s[i] != '"')
        ++i;
      out.push_back(token{lower(s.substr(start, i - start)), 0});
    }
  }
  return out;
}

admin_command invalid(std::string why) {
  admin_command c;
  c.verb = admin_verb::invalid;
  c.error = std::move(why);
  return c;
}

bool is_word(const token& t, std::string_view w) { return t.quote == 0 && t.text == w; }

}  // namespace

admin_command parse_admin_command(std::string_view sql) {
  auto tokens = tokenize(sql);
  if (!tokens) return invalid("unterminated quoted string or comment");
  auto& t = *tokens;
  admin_command c;
  if (t.empty()) {
    c.verb = admin_verb::empty;
    return c;
  }
  if (t[0].quote) return invalid("a command starts with a keyword");
  const std::string& verb = t[0].text;
  if (verb == "show") {
    if (t.size() < 2 || t[1].quote) return invalid("SHOW needs a view: SHOW HELP lists them");
    c.verb = admin_verb::show;
    c.what = t[1].text;
    if (std::find(std::begin(admin_show_views), std::end(admin_show_views), c.what) == std::end(admin_show_views)) {
      return invalid("unknown view \"" + c.what + "\": SHOW HELP lists them");
    }
    if (c.what == "route") {
      if (t.size() != 3 || t[2].quote != '\'') return invalid("SHOW ROUTE takes one quoted statement: SHOW ROUTE 'select 1'");
      c.argument = t[2].text;
      return c;
    }
    if (t.size() != 2) return invalid("SHOW " + c.what + " takes no argument");
    return c;
  }
  if (verb == "reload" || verb == "shutdown") {
    if (t.size() != 1) return invalid(lower(verb) + " takes no argument");
    c.verb = verb == "reload" ? admin_verb::reload : admin_verb::shutdown;
    return c;
  }
  if (verb == "pause" || verb == "resume" || verb == "kill") {
    c.verb = verb == "pause" ? admin_verb::pause : verb == "resume" ? admin_verb::resume : admin_verb::kill;
    if (t.size() > 2 || (t.size() == 2 && t[1].quote == '\'')) return invalid(verb + " takes at most a database name");
    if (t.size() == 2) c.argument = t[1].text;  // unquoted names were lowercased, as Postgres does
    if (c.verb == admin_verb::kill && c.argument.empty()) return invalid("KILL needs a database name");
    return c;
  }
  if (is_word(t[0], "select") || is_word(t[0], "set") || is_word(t[0], "begin")) {
    return invalid("the admin console runs only its own commands (SHOW HELP lists them)");
  }
  return invalid("unknown command \"" + verb + "\": SHOW HELP lists the commands");
}

}  // namespace pgrelay::core
