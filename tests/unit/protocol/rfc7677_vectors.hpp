// The SCRAM-SHA-256 exchange of RFC 7677 section 3, shared by the SCRAM unit tests.
#pragma once

#include <string_view>

namespace rfc7677 {

// RFC 7677 section 3 (user "user", password "pencil").
constexpr std::string_view rfc_password = "pencil";
constexpr std::string_view rfc_client_nonce = "rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view rfc_server_nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr std::string_view rfc_salt_b64 = "W22ZaJ0SNY7soEsUEjb6gQ==";
constexpr std::string_view rfc_client_first = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view rfc_server_first =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view rfc_client_final =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view rfc_server_final = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
// Derived independently with Python (hashlib.pbkdf2_hmac / hmac / hashlib.sha256) from the
// RFC password, salt and iteration count:
//   sp = pbkdf2_hmac("sha256", b"pencil", b64decode(salt), 4096)
//   StoredKey = sha256(hmac(sp, b"Client Key")), ServerKey = hmac(sp, b"Server Key")
constexpr std::string_view rfc_verifier =
    "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

}  // namespace rfc7677
