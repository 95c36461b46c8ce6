#include "chat/hex.h"

#include <vector>

namespace chat {

std::string HexEncode(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::string RandomHex(Env* env, size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  (env ? env : Env::Default())->RandomBytes(buf.data(), buf.size());
  return HexEncode(std::string_view(reinterpret_cast<const char*>(buf.data()), buf.size()));
}

}  // namespace chat
