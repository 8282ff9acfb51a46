// IP addresses as integers. IPv4 is kept as u32; IPv6 as two u64 halves (big-endian order: hi holds the
// first 8 bytes) so that comparison of (hi, lo) is numeric order. IPv4-mapped IPv6 (::ffff:a.b.c.d) is
// reported as IPv4 so it looks up the IPv4 table.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace enrichd {

struct Ipv6 {
  uint64_t hi = 0;
  uint64_t lo = 0;
  friend constexpr bool operator==(const Ipv6&, const Ipv6&) = default;
  friend constexpr bool operator<(const Ipv6& a, const Ipv6& b) {
    return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo);
  }
  friend constexpr bool operator<=(const Ipv6& a, const Ipv6& b) { return !(b < a); }
};

inline constexpr Ipv6 kIpv6Max{UINT64_MAX, UINT64_MAX};

// The next and previous address, wrapping around at the ends of the address space.
constexpr Ipv6 ipv6_next(Ipv6 k) {
  return k.lo == UINT64_MAX ? Ipv6{k.hi + 1, 0} : Ipv6{k.hi, k.lo + 1};
}
constexpr Ipv6 ipv6_prev(Ipv6 k) {
  return k.lo == 0 ? Ipv6{k.hi - 1, UINT64_MAX} : Ipv6{k.hi, k.lo - 1};
}

struct IpAddress {
  bool is_v6 = false;
  uint32_t v4 = 0;  // valid when !is_v6
  Ipv6 v6;          // valid when is_v6
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

// Parses dotted IPv4 or any RFC 4291 IPv6 text form: accepts exactly what glibc's inet_pton(AF_INET) or
// inet_pton(AF_INET6) accepts, with the same bits. Returns nullopt for anything else (zone ids, surrounding
// spaces, leading-zero octets, embedded NUL, empty text). Reads the view in place; no terminator needed.
std::optional<IpAddress> parse_ip(std::string_view text);

// parse_ip for text that is followed by at least 32 readable bytes (the event parser's strings lie inside
// a RawBatch message, which is followed by RawBatch::kPadding bytes): the same answer, with dotted quads
// and plain IPv6 read by SIMD compares instead of byte loops whose branches mispredict on every octet's
// or group's length. Writes `out` only when it returns true.
bool parse_ip_padded(std::string_view text, IpAddress& out);

// The address part of IPv6 text with a zone id (RFC 4007: "fe80::1%eth0"; the zone 1 to 64 of RFC 6874's
// unreserved characters: letters, digits, '-', '.', '_', '~'): the text before the '%'. Text without a '%'
// comes back as it is; a zone after text without a ':' (IPv4), or an empty or odd zone, gives nullopt.
std::optional<std::string_view> without_zone_id(std::string_view text);

// Canonical text: dotted quad for IPv4, RFC 5952 for IPv6.
std::string format_ip(const IpAddress& ip);
// The same text written into `out` (room for kMaxIpText bytes, no terminator); returns its length.
inline constexpr size_t kMaxIpText = 46;
size_t format_ip_to(const IpAddress& ip, char* out);
std::string format_ipv4(uint32_t v4);
std::string format_ipv6(const Ipv6& v6);

}  // namespace enrichd
