#include "host/ip_address.h"

#include <arpa/inet.h>

#include <array>
#include <cstring>

namespace enrichd {
namespace {

uint64_t load_be64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

void store_be64(uint64_t v, unsigned char* p) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<unsigned char>(v & 0xff);
    v >>= 8;
  }
}

}  // namespace

std::optional<IpAddress> parse_ip(std::string_view text) {
  // inet_pton needs a terminator; 45 chars is the longest IPv6 text form, so anything longer is bad.
  constexpr size_t kMaxText = 45;
  if (text.empty() || text.size() > kMaxText) return std::nullopt;
  // inet_pton stops at a NUL, so "1.2.3.4\0junk" would read as 1.2.3.4: text with a NUL is not an address.
  if (std::memchr(text.data(), '\0', text.size()) != nullptr) return std::nullopt;
  std::array<char, kMaxText + 1> buf{};
  std::memcpy(buf.data(), text.data(), text.size());

  IpAddress ip;
  if (text.find(':') == std::string_view::npos) {
    in_addr a{};
    if (inet_pton(AF_INET, buf.data(), &a) != 1) return std::nullopt;
    ip.v4 = ntohl(a.s_addr);
    return ip;
  }
  in6_addr a{};
  if (inet_pton(AF_INET6, buf.data(), &a) != 1) return std::nullopt;
  const uint64_t hi = load_be64(a.s6_addr);
  const uint64_t lo = load_be64(a.s6_addr + 8);
  if (hi == 0 && (lo >> 32) == 0xffff) {  // ::ffff:a.b.c.d
    ip.v4 = static_cast<uint32_t>(lo);
    return ip;
  }
  ip.is_v6 = true;
  ip.v6 = {hi, lo};
  return ip;
}

std::string format_ipv4(uint32_t v4) {
  in_addr a{};
  a.s_addr = htonl(v4);
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

std::string format_ipv6(const Ipv6& v6) {
  in6_addr a{};
  store_be64(v6.hi, a.s6_addr);
  store_be64(v6.lo, a.s6_addr + 8);
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, &a, buf, sizeof buf);
  return buf;
}

std::string format_ip(const IpAddress& ip) {
  return ip.is_v6 ? format_ipv6(ip.v6) : format_ipv4(ip.v4);
}

}  // namespace enrichd
