// parse_ip / format_ip against the C library's inet_pton / inet_ntop on many random addresses in many
// text forms, plus the forms that must be rejected. parse_ip is hand-written; glibc's inet_pton is the
// reference it must match bit for bit, on valid text and on broken text alike.
#include "host/ip_address.h"

#include "host/ip_address_simd.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace enrichd {
namespace {

// The million-string sweeps run a tenth as many under ASan, where each string costs many times more.
#if defined(__SANITIZE_ADDRESS__)
constexpr int kSweepScale = 10;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr int kSweepScale = 10;
#else
constexpr int kSweepScale = 1;
#endif
#else
constexpr int kSweepScale = 1;
#endif
constexpr int kSweep = 1000000 / kSweepScale;

using Bytes16 = std::array<unsigned char, 16>;

uint64_t be64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

// What parse_ip must answer for 16 address bytes: IPv4-mapped (::ffff:a.b.c.d) becomes IPv4.
IpAddress expected_from_v6_bytes(const Bytes16& b) {
  IpAddress ip;
  const uint64_t hi = be64(b.data());
  const uint64_t lo = be64(b.data() + 8);
  if (hi == 0 && (lo >> 32) == 0xffff) {
    ip.v4 = static_cast<uint32_t>(lo);
  } else {
    ip.is_v6 = true;
    ip.v6 = {hi, lo};
  }
  return ip;
}

IpAddress v4_address(uint32_t v) {
  IpAddress ip;
  ip.v4 = v;
  return ip;
}

// The reference: the C library's inet_pton (which wants NUL-terminated text).
std::optional<IpAddress> reference_parse(const std::string& text) {
  if (text.find('\0') != std::string::npos) return std::nullopt;
  if (text.find(':') == std::string::npos) {
    in_addr a{};
    if (inet_pton(AF_INET, text.c_str(), &a) != 1) return std::nullopt;
    return v4_address(ntohl(a.s_addr));
  }
  in6_addr a{};
  if (inet_pton(AF_INET6, text.c_str(), &a) != 1) return std::nullopt;
  Bytes16 b;
  std::memcpy(b.data(), a.s6_addr, 16);
  return expected_from_v6_bytes(b);
}

std::string dotted(const unsigned char* p) {
  return fmt::format("{}.{}.{}.{}", p[0], p[1], p[2], p[3]);
}

std::array<unsigned, 8> groups_of(const Bytes16& b) {
  std::array<unsigned, 8> g{};
  for (size_t i = 0; i < 8; ++i) g[i] = (unsigned{b[2 * i]} << 8) | b[2 * i + 1];
  return g;
}

std::string to_upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

// Writes groups [from, to) as hex joined by ':', either zero-padded to 4 digits or minimal.
std::string join_groups(const std::array<unsigned, 8>& g, size_t from, size_t to, bool pad) {
  std::string s;
  for (size_t i = from; i < to; ++i) {
    if (i != from) s.push_back(':');
    s += pad ? fmt::format("{:04x}", g[i]) : fmt::format("{:x}", g[i]);
  }
  return s;
}

// Every text form of an IPv6 address this test produces, all of which inet_pton accepts.
std::vector<std::string> v6_text_forms(const Bytes16& b, std::mt19937_64& rng) {
  const auto g = groups_of(b);
  std::vector<std::string> forms;
  forms.push_back(join_groups(g, 0, 8, true));                                 // full
  forms.push_back(join_groups(g, 0, 8, false));                                // no leading zeros
  forms.push_back(to_upper(join_groups(g, 0, 8, true)));                       // uppercase hex
  forms.push_back(join_groups(g, 0, 6, false) + ":" + dotted(b.data() + 12));  // embedded IPv4
  char buf[INET6_ADDRSTRLEN];
  in6_addr a{};
  std::memcpy(a.s6_addr, b.data(), 16);
  EXPECT_NE(inet_ntop(AF_INET6, &a, buf, sizeof buf), nullptr);
  forms.emplace_back(buf);         // zero-compressed, RFC 5952
  forms.push_back(to_upper(buf));  // zero-compressed, uppercase

  // "::" over a random run of zero groups (not necessarily the longest), in the 8-group form and in the
  // embedded-IPv4 form (where the run must lie within the first 6 groups).
  for (const size_t ngroups : {size_t{8}, size_t{6}}) {
    std::vector<std::pair<size_t, size_t>> runs;  // [begin, end) of every zero run
    for (size_t i = 0; i < ngroups; ++i) {
      if (g[i] != 0) continue;
      for (size_t j = i; j < ngroups && g[j] == 0; ++j) runs.emplace_back(i, j + 1);
    }
    if (runs.empty()) continue;
    const auto [rb, re] = runs[rng() % runs.size()];
    std::string s =
        join_groups(g, 0, rb, rng() % 2 == 0) + "::" + join_groups(g, re, ngroups, rng() % 2 == 0);
    if (ngroups == 6) {
      if (re != 6) s.push_back(':');
      s += dotted(b.data() + 12);
    }
    forms.push_back(rng() % 4 == 0 ? to_upper(s) : s);
  }
  return forms;
}

// Random 16 bytes with many zero groups (so compression has something to do) and some well-known prefixes.
Bytes16 random_v6(std::mt19937_64& rng) {
  Bytes16 b{};
  const uint64_t r = rng();
  for (auto& c : b) c = static_cast<unsigned char>(rng());
  switch (r % 8) {
    case 0:  // IPv4-mapped
      std::fill(b.begin(), b.begin() + 10, 0);
      b[10] = b[11] = 0xff;
      break;
    case 1:  // NAT64 well-known prefix 64:ff9b::/96
      std::fill(b.begin(), b.begin() + 12, 0);
      b[1] = 0x64;
      b[2] = 0xff;
      b[3] = 0x9b;
      break;
    case 2:  // all zero or all ones except a little
      std::fill(b.begin(), b.end(), (r >> 8) % 2 == 0 ? 0 : 0xff);
      b[15] = static_cast<unsigned char>(r >> 16);
      break;
    default:  // zero out random groups
      for (size_t i = 0; i < 8; ++i) {
        if ((r >> (8 + i)) & 1) b[2 * i] = b[2 * i + 1] = 0;
      }
  }
  return b;
}

// parse_ip_padded on a copy of the text followed by 32 bytes that look like more address (digits, dots,
// colons), so that reading past the end would change the answer.
std::optional<IpAddress> padded_parse(std::string_view text) {
  std::string buf(text);
  buf += "1.2.3.45.6.7.8.9:ab:cd::ef:12:34";
  IpAddress ip;
  if (!parse_ip_padded(std::string_view(buf.data(), text.size()), ip)) return std::nullopt;
  return ip;
}

// Each SIMD dotted-quad reader (the SSE2 one, and the SSSE3 one where the CPU has it) answers exactly what
// parse_ip does for text without a colon: true with the same value for an IPv4 address, else false.
void expect_quad_readers_agree(std::string_view text) {
  std::string buf(text);
  buf += "1.2.3.45.6.7.8.9:ab:cd::ef:12:34";
  const auto want = parse_ip(text);
  const bool quad = want && !want->is_v6 && text.find(':') == std::string_view::npos;
  const auto n = static_cast<uint32_t>(std::min<size_t>(text.size(), 1000));
  uint32_t got = 0;
  ASSERT_EQ(ip_simd::parse_ipv4_sse2(buf.data(), n, got), quad) << "sse2 on '" << text << "'";
  if (quad) {
    ASSERT_EQ(got, want->v4) << "sse2 on '" << text << "'";
  }
  if (!ip_simd::has_ssse3()) return;
  got = 0;
  ASSERT_EQ(ip_simd::parse_ipv4_ssse3(buf.data(), n, got), quad) << "ssse3 on '" << text << "'";
  if (quad) {
    ASSERT_EQ(got, want->v4) << "ssse3 on '" << text << "'";
  }
}

TEST(IpAddressTest, RandomIpv6FormsAgreeWithInetPton) {
  std::mt19937_64 rng(20240601);
  constexpr int kAddresses = 200000;
  size_t forms_checked = 0;
  for (int n = 0; n < kAddresses; ++n) {
    const Bytes16 b = random_v6(rng);
    const IpAddress expected = expected_from_v6_bytes(b);
    for (const std::string& text : v6_text_forms(b, rng)) {
      const auto ref = reference_parse(text);
      ASSERT_TRUE(ref.has_value()) << "inet_pton rejects generated form '" << text << "'";
      ASSERT_EQ(*ref, expected) << text;
      const auto got = parse_ip(text);
      ASSERT_TRUE(got.has_value()) << text;
      ASSERT_EQ(*got, expected) << text;
      ++forms_checked;
    }
  }
  EXPECT_GT(forms_checked, size_t{kAddresses} * 6);
}

TEST(IpAddressTest, RandomIpv4AgreesWithInetPton) {
  std::mt19937_64 rng(7);
  for (int n = 0; n < 200000; ++n) {
    const auto v = static_cast<uint32_t>(rng());
    const unsigned char p[4] = {static_cast<unsigned char>(v >> 24), static_cast<unsigned char>(v >> 16),
                                static_cast<unsigned char>(v >> 8), static_cast<unsigned char>(v)};
    const std::string text = dotted(p);
    const auto ref = reference_parse(text);
    ASSERT_TRUE(ref.has_value()) << text;
    ASSERT_EQ(*ref, v4_address(v));
    const auto got = parse_ip(text);
    ASSERT_TRUE(got.has_value()) << text;
    ASSERT_EQ(*got, v4_address(v)) << text;
    // The same address IPv4-mapped in IPv6 comes back as IPv4, whatever the form.
    for (const std::string& mapped :
         {"::ffff:" + text, "::FFFF:" + text, "0:0:0:0:0:ffff:" + text,
          "0000:0000:0000:0000:0000:FFFF:" + text, fmt::format("::ffff:{:x}:{:x}", v >> 16, v & 0xffff)}) {
      const auto m = parse_ip(mapped);
      ASSERT_TRUE(m.has_value()) << mapped;
      ASSERT_FALSE(m->is_v6) << mapped;
      ASSERT_EQ(m->v4, v) << mapped;
    }
  }
}

TEST(IpAddressTest, EmbeddedIpv4InOtherPrefixesStaysIpv6) {
  const auto nat64 = parse_ip("64:ff9b::1.2.3.4");
  ASSERT_TRUE(nat64.has_value());
  EXPECT_TRUE(nat64->is_v6);
  EXPECT_EQ(nat64->v6, (Ipv6{0x0064ff9b00000000ULL, 0x0000000001020304ULL}));

  const auto compat = parse_ip("::1.2.3.4");  // deprecated IPv4-compatible: not mapped
  ASSERT_TRUE(compat.has_value());
  EXPECT_TRUE(compat->is_v6);
  EXPECT_EQ(compat->v6, (Ipv6{0, 0x01020304ULL}));

  const auto almost = parse_ip("::fffe:1.2.3.4");
  ASSERT_TRUE(almost.has_value());
  EXPECT_TRUE(almost->is_v6);

  const auto mapped_edge = parse_ip("::ffff:0.0.0.0");
  ASSERT_TRUE(mapped_edge.has_value());
  EXPECT_FALSE(mapped_edge->is_v6);
  EXPECT_EQ(mapped_edge->v4, 0U);
}

TEST(IpAddressTest, KnownValues) {
  const auto a = parse_ip("255.255.255.255");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(*a, v4_address(UINT32_MAX));
  const auto z = parse_ip("0.0.0.0");
  ASSERT_TRUE(z.has_value());
  EXPECT_EQ(*z, v4_address(0));
  const auto loop = parse_ip("::1");
  ASSERT_TRUE(loop.has_value());
  EXPECT_TRUE(loop->is_v6);
  EXPECT_EQ(loop->v6, (Ipv6{0, 1}));
  const auto max = parse_ip("FFFF:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
  ASSERT_TRUE(max.has_value());
  EXPECT_EQ(max->v6, (Ipv6{UINT64_MAX, UINT64_MAX}));
  const auto doc = parse_ip("2001:db8::8:800:200c:417a");
  ASSERT_TRUE(doc.has_value());
  EXPECT_EQ(doc->v6, (Ipv6{0x20010db800000000ULL, 0x00080800200c417aULL}));
  // The longest valid text form is exactly 45 characters.
  const std::string longest = "0000:0000:0000:0000:0000:abcd:255.255.255.255";
  ASSERT_EQ(longest.size(), 45U);
  const auto l = parse_ip(longest);
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->v6, (Ipv6{0, 0x0000abcdffffffffULL}));
}

TEST(IpAddressTest, RejectsInvalidText) {
  const std::vector<std::string> bad = {
      "",
      " ",
      " 1.2.3.4",
      "1.2.3.4 ",
      "1.2.3.4\n",
      "1.2. 3.4",
      ":: 1",
      " ::1",
      "::1 ",
      "fe80::1%eth0",
      "fe80::1%1",
      "1.2.3",
      "1.2.3.4.5",
      "256.1.1.1",
      "1.2.3.-4",
      "1.2.3.4/24",
      "::/0",
      "0x1.2.3.4",
      "a.b.c.d",
      "localhost",
      ":",
      ":::",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7",
      "12345::",
      "g::1",
      "::ffff:1.2.3",
      "::ffff:1.2.3.4.5",
      "::ffff:256.1.1.1",
      "1.2.3.4::",
      "[::1]",
      "0000:0000:0000:0000:0000:0000:0000:0000:",
      std::string(46, '0'),
      "0000:0000:0000:0000:0000:abcd:255.255.255.2550",  // 46 characters
      std::string(1000, '1'),
      std::string(100, ':'),
      std::string("1.2.3.4\0", 8),
      std::string("\0", 1),
      std::string("::1\0garbage", 11),
      std::string("1.2.3.4\0.5", 10),
  };
  for (const std::string& text : bad) {
    EXPECT_FALSE(parse_ip(text).has_value()) << "accepted '" << text << "' (" << text.size() << " bytes)";
    EXPECT_FALSE(padded_parse(text).has_value()) << "padded accepted '" << text << "'";
    expect_quad_readers_agree(text);
  }
}

TEST(IpAddressTest, PaddedDottedQuadsAgreeWithParseIp) {
  // Every octet text of 1..3 digits (leading zeros and values over 255 included) in every position,
  // the others drawn at random: the SIMD dotted-quad path must answer exactly what parse_ip does.
  std::mt19937_64 rng(15);
  size_t accepted = 0;
  for (int position = 0; position < 4; ++position) {
    for (int digits = 1; digits <= 3; ++digits) {
      for (int value = 0; value < 1000; ++value) {
        std::string octets[4];
        for (auto& o : octets) o = std::to_string(rng() % 256);
        octets[position] = fmt::format("{:0{}}", value, digits);
        const std::string text = fmt::format("{}.{}.{}.{}", octets[0], octets[1], octets[2], octets[3]);
        const auto want = parse_ip(text);
        ASSERT_EQ(padded_parse(text), want) << text;
        expect_quad_readers_agree(text);
        accepted += want.has_value();
      }
    }
  }
  EXPECT_GT(accepted, 1000U);
}

TEST(IpAddressTest, RandomGarbageAgreesWithInetPton) {
  // Strings over an alphabet that makes near-miss addresses likely; parse_ip must accept exactly what
  // inet_pton accepts.
  static constexpr std::string_view kAlphabet = "0123456789abcdefABCDEF::::....%x ";
  std::mt19937_64 rng(99);
  size_t accepted = 0;
  for (int n = 0; n < 100000; ++n) {
    std::string s(rng() % 24, ' ');
    for (auto& c : s) c = kAlphabet[rng() % kAlphabet.size()];
    const auto ref = reference_parse(s);
    const auto got = parse_ip(s);
    ASSERT_EQ(got.has_value(), ref.has_value()) << "'" << s << "'";
    ASSERT_EQ(padded_parse(s), got) << "parse_ip_padded differs on '" << s << "'";
    expect_quad_readers_agree(s);
    if (got) {
      ASSERT_EQ(*got, *ref) << s;
      ++accepted;
    }
  }
  EXPECT_GT(accepted, 0U);  // the alphabet does produce valid addresses now and then
}

// Appends a group as 1..4 hex digits: at least as many as it needs, sometimes zero-padded, every letter
// upper or lower case at random.
void append_hex_group(std::string& s, unsigned group, std::mt19937_64& rng) {
  const int needed = group >= 0x1000 ? 4 : group >= 0x100 ? 3 : group >= 0x10 ? 2 : 1;
  const int digits = rng() % 2 == 0 ? needed : needed + static_cast<int>(rng() % (5 - needed));
  const uint64_t upper = rng();
  for (int i = digits - 1; i >= 0; --i) {
    const unsigned d = (group >> (4 * i)) & 0xf;
    s.push_back(d >= 10 && ((upper >> i) & 1) ? "0123456789ABCDEF"[d] : "0123456789abcdef"[d]);
  }
}

// An octet biased towards one and two digits, so that every width turns up often.
unsigned char random_octet(std::mt19937_64& rng) {
  const uint64_t r = rng();
  return static_cast<unsigned char>(r % 3 == 0 ? (r >> 8) % 10 : r % 3 == 1 ? (r >> 8) % 100 : r >> 8);
}

struct ValidText {
  std::string text;
  IpAddress expected;
};

// One valid text of any form: IPv4; IPv6 with 8 groups or 6 groups and an embedded IPv4; with "::" over
// a run of any length at any position (the run is forced to zero) or without; groups of 1..4 digits in
// mixed case.
ValidText random_valid_text(std::mt19937_64& rng) {
  if (rng() % 4 == 0) {
    const unsigned char p[4] = {random_octet(rng), random_octet(rng), random_octet(rng), random_octet(rng)};
    return {dotted(p),
            v4_address((uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3])};
  }
  Bytes16 b = random_v6(rng);
  const bool embedded_v4 = rng() % 3 == 0;
  const size_t hex_groups = embedded_v4 ? 6 : 8;
  if (embedded_v4) {
    for (size_t i = 12; i < 16; ++i) b[i] = random_octet(rng);
  }
  size_t run_begin = 0, run_end = 0;  // "::" stands for groups [run_begin, run_end) when not empty
  if (rng() % 3 != 0) {
    run_begin = rng() % hex_groups;
    run_end = run_begin + 1 + rng() % (hex_groups - run_begin);
    std::fill(b.begin() + 2 * run_begin, b.begin() + 2 * run_end, 0);
  }
  const auto g = groups_of(b);
  std::string s;
  for (size_t i = 0; i < hex_groups; ++i) {
    if (run_end > run_begin && i == run_begin) {
      s += "::";
      i = run_end - 1;
      continue;
    }
    if (!s.empty() && s.back() != ':') s.push_back(':');
    append_hex_group(s, g[i], rng);
  }
  if (embedded_v4) {
    if (!s.empty() && s.back() != ':') s.push_back(':');
    s += dotted(b.data() + 12);
  }
  return {s, expected_from_v6_bytes(b)};
}

TEST(IpAddressTest, MillionValidTextsOfEveryFormAgreeWithInetPton) {
  std::mt19937_64 rng(4291);
  size_t v4 = 0, compressed = 0, embedded = 0;
  for (int n = 0; n < kSweep; ++n) {
    const ValidText t = random_valid_text(rng);
    const auto ref = reference_parse(t.text);
    ASSERT_TRUE(ref.has_value()) << "inet_pton rejects generated text '" << t.text << "'";
    ASSERT_EQ(*ref, t.expected) << t.text;
    const auto got = parse_ip(t.text);
    ASSERT_TRUE(got.has_value()) << t.text;
    ASSERT_EQ(*got, t.expected) << t.text;
    ASSERT_EQ(padded_parse(t.text), got) << t.text;
    expect_quad_readers_agree(t.text);
    const bool has_colon = t.text.find(':') != std::string::npos;
    v4 += !has_colon;
    compressed += t.text.find("::") != std::string::npos;
    embedded += has_colon && t.text.find('.') != std::string::npos;
  }
  // Every form turned up often.
  EXPECT_GT(v4, static_cast<size_t>(kSweep / 5));
  EXPECT_GT(compressed, static_cast<size_t>(kSweep / 3));
  EXPECT_GT(embedded, static_cast<size_t>(kSweep / 5));
}

// Breaks text in one to three of the ways real input goes wrong (or in ways that happen to stay valid).
std::string mutate(std::string s, std::mt19937_64& rng) {
  static constexpr std::string_view kInserts = "0123456789abcdefABCDEF:.%x g-/[] \t\n";
  const auto pos = [&](size_t extra) { return static_cast<size_t>(rng() % (s.size() + extra)); };
  const int count = 1 + static_cast<int>(rng() % 3);
  for (int m = 0; m < count; ++m) {
    switch (rng() % 14) {
      case 0:  // any byte replaced by any byte
        if (!s.empty()) s[pos(0)] = static_cast<char>(rng());
        break;
      case 1:  // truncated
        s.resize(pos(1));
        break;
      case 2:  // a likely character inserted
        s.insert(pos(1), 1, kInserts[rng() % kInserts.size()]);
        break;
      case 3:  // a character dropped
        if (!s.empty()) s.erase(pos(0), 1);
        break;
      case 4:  // a second (or first) "::"
        s.insert(pos(1), "::");
        break;
      case 5:  // an extra group at either end or after some colon
        if (rng() % 3 == 0) {
          s.insert(0, "1:");
        } else if (rng() % 2 == 0) {
          s += ":ab";
        } else if (const size_t c = s.find(':', pos(1)); c != std::string::npos) {
          s.insert(c, ":0");
        }
        break;
      case 6:  // a digit added to some group or octet (5-digit groups, 4-digit octets)
        if (const size_t d = s.find_first_of("0123456789abcdefABCDEF", pos(1)); d != std::string::npos) {
          s.insert(d, 1, "0123456789abcdef"[rng() % 16]);
        }
        break;
      case 7:  // an octet (or the last group) too big or too long for an octet
        if (const size_t d = s.find_last_of(".:"); d != std::string::npos) {
          s.replace(d + 1, s.find_first_of(".:", d + 1) - (d + 1), std::to_string(256 + rng() % 800));
        } else {
          s.replace(0, s.find('.'), std::to_string(250 + rng() % 10));
        }
        break;
      case 8:  // surrounding space
        if (rng() % 2 == 0) {
          s.insert(0, 1, rng() % 2 == 0 ? ' ' : '\t');
        } else {
          s.push_back(rng() % 2 == 0 ? ' ' : '\n');
        }
        break;
      case 9:  // a zone id
        s += rng() % 2 == 0 ? "%eth0" : "%1";
        break;
      case 10:  // NUL in the middle or at the end
        s.insert(pos(1), 1, '\0');
        break;
      case 11:  // a leading zero before some digit (octet "01", group "00001")
        if (const size_t d = s.find_first_of("0123456789", pos(1)); d != std::string::npos) {
          s.insert(d, 1, '0');
        }
        break;
      case 12:  // a piece of the text repeated (too many groups, octets, dots)
        if (!s.empty()) {
          const size_t from = pos(0);
          s.insert(pos(1), s.substr(from, 1 + rng() % 6));
        }
        break;
      default:  // a separator swapped ('.' for ':' and back)
        if (const size_t d = s.find_first_of(".:", pos(1)); d != std::string::npos) {
          s[d] = s[d] == '.' ? ':' : '.';
        }
    }
  }
  return s;
}

// Random bytes, over all 256 values or over a near-miss alphabet.
std::string random_bytes(std::mt19937_64& rng) {
  static constexpr std::string_view kAlphabet = "0123456789abcdefABCDEF::::::....%x \0";
  std::string s(rng() % 48, ' ');
  const bool any_byte = rng() % 2 == 0;
  for (auto& c : s) c = any_byte ? static_cast<char>(rng()) : kAlphabet[rng() % kAlphabet.size()];
  return s;
}

TEST(IpAddressTest, MillionBrokenTextsAgreeWithInetPton) {
  std::mt19937_64 rng(8200);
  size_t accepted = 0, rejected = 0;
  for (int n = 0; n < kSweep; ++n) {
    const std::string s = rng() % 8 == 0 ? random_bytes(rng) : mutate(random_valid_text(rng).text, rng);
    const auto ref = reference_parse(s);
    const auto got = parse_ip(s);
    ASSERT_EQ(got.has_value(), ref.has_value())
        << "'" << s << "' (" << s.size() << " bytes): inet_pton " << (ref ? "accepts" : "rejects");
    ASSERT_EQ(padded_parse(s), got) << "parse_ip_padded differs on '" << s << "'";
    expect_quad_readers_agree(s);
    if (got) {
      ASSERT_EQ(*got, *ref) << s;
      ++accepted;
    } else {
      ++rejected;
    }
  }
  // Both answers are common, so both directions of the "iff" are exercised.
  EXPECT_GT(accepted, static_cast<size_t>(kSweep / 20));
  EXPECT_GT(rejected, static_cast<size_t>(kSweep / 2));
}

TEST(IpAddressTest, EdgeCasesAgreeWithInetPton) {
  // Each with what glibc's inet_pton answers (checked here too, so a different C library shows up as
  // a failing reference rather than as a parse_ip bug).
  const std::vector<std::pair<std::string, bool>> cases = {
      {"0.0.0.0", true},
      {"1.2.3.4", true},
      {"255.255.255.255", true},
      {"10.0.100.200", true},
      {"01.2.3.4", false},  // no leading zeros in an octet
      {"00.0.0.0", false},
      {"1.2.3.04", false},
      {"1.2.3.004", false},
      {"1.2.3", false},
      {"1.2.3.4.", false},
      {".1.2.3.4", false},
      {"1..2.3", false},
      {"256.1.1.1", false},
      {"1.2.3.1000", false},
      {" 1.2.3.4", false},
      {"1.2.3.4x", false},
      {"::", true},
      {"::1", true},
      {"1::", true},
      {"0000::", true},
      {"1:2:3:4:5:6:7::", true},  // "::" for a single group
      {"::2:3:4:5:6:7:8", true},
      {"1::8", true},
      {"1:2:3:4:5:6:7:8", true},
      {"1:2:3:4:5:6:7::8", false},  // "::" for no group at all
      {"::1:2:3:4:5:6:7:8", false},
      {"1:2:3:4:5:6:7:8::", false},
      {"1:2:3:4:5:6:7", false},
      {"1:2:3:4:5:6:7:8:9", false},
      {"::1.2.3.4", true},
      {"1::1.2.3.4", true},
      {"::00:1.2.3.4", true},
      {"::ffff:1.2.3.4", true},
      {"64:ff9b::1.2.3.4", true},
      {"1:2:3:4:5:6:1.2.3.4", true},
      {"1:2:3:4:5::1.2.3.4", true},
      {"1:2:3:4:5:6::1.2.3.4", false},
      {"1:2:3:4:5:6:7:1.2.3.4", false},
      {"::ffff:01.2.3.4", false},  // the embedded IPv4 follows inet_pton4, leading zeros included
      {"::ffff:1.2.3", false},
      {"::1.2.3.4:5", false},
      {"::1.2.3.4.5", false},
      {"::abc.1.2.3", false},
      {"::1:.2.3.4", false},
      {"::1.2.3.4x", false},
      {"1.2.3.4::", false},
      {"00000::", false},  // five hex digits
      {"::01234", false},
      {"::12345.1.2.3", false},
      {"1:", false},
      {":1", false},
      {":1::", false},
      {"1::2:", false},
      {":::", false},
      {"1::2::3", false},
      {"::ffff:1.2.3.4 ", false},
      {"fe80::1%eth0", false},
      {"FE80::ABCD:Ef01", true},
      {"", false},
      {std::string("::1\0", 4), false},
      {std::string("1.2\0.3.4", 8), false},
  };
  for (const auto& [text, valid] : cases) {
    const auto ref = reference_parse(text);
    ASSERT_EQ(ref.has_value(), valid) << "inet_pton on '" << text << "'";
    const auto got = parse_ip(text);
    ASSERT_EQ(got.has_value(), valid) << "'" << text << "'";
    if (got) {
      EXPECT_EQ(*got, *ref) << text;
    }
  }
}

TEST(IpAddressTest, FormatRoundTrips) {
  std::mt19937_64 rng(1234);
  for (int n = 0; n < 50000; ++n) {
    const Bytes16 b = random_v6(rng);
    const IpAddress ip = expected_from_v6_bytes(b);
    const std::string text = format_ip(ip);
    if (ip.is_v6) {
      char buf[INET6_ADDRSTRLEN];
      in6_addr a{};
      std::memcpy(a.s6_addr, b.data(), 16);
      ASSERT_NE(inet_ntop(AF_INET6, &a, buf, sizeof buf), nullptr);
      ASSERT_EQ(text, buf);
      ASSERT_EQ(format_ipv6(ip.v6), buf);
    } else {
      ASSERT_EQ(text, dotted(b.data() + 12));
      ASSERT_EQ(format_ipv4(ip.v4), text);
    }
    const auto back = parse_ip(text);
    ASSERT_TRUE(back.has_value()) << text;
    ASSERT_EQ(*back, ip) << text;
  }
  EXPECT_EQ(format_ip(v4_address(0)), "0.0.0.0");
  EXPECT_EQ(format_ip(v4_address(UINT32_MAX)), "255.255.255.255");
  EXPECT_EQ(format_ip(v4_address(0x01020304)), "1.2.3.4");
  IpAddress v6;
  v6.is_v6 = true;
  v6.v6 = {0x20010db800000000ULL, 1};
  EXPECT_EQ(format_ip(v6), "2001:db8::1");
  v6.v6 = {0, 0};
  EXPECT_EQ(format_ip(v6), "::");
  v6.v6 = {UINT64_MAX, UINT64_MAX};
  EXPECT_EQ(format_ip(v6), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
}

TEST(IpAddressTest, Ipv6OrderIsNumericOrder) {
  // Numeric order of 128-bit addresses is the byte order of their big-endian form (memcmp).
  const auto big_endian = [](const Ipv6& v) {
    std::array<unsigned char, 16> b{};
    for (size_t i = 0; i < 8; ++i) {
      b[i] = static_cast<unsigned char>(v.hi >> (56 - 8 * i));
      b[8 + i] = static_cast<unsigned char>(v.lo >> (56 - 8 * i));
    }
    return b;
  };
  std::mt19937_64 rng(5);
  const uint64_t kHalves[] = {0, 1, 2, 0x8000000000000000ULL, UINT64_MAX - 1, UINT64_MAX};
  for (int n = 0; n < 100000; ++n) {
    // Few distinct halves so that equal hi (or lo) is common.
    const Ipv6 a{kHalves[rng() % 6], kHalves[rng() % 6]};
    const Ipv6 b{kHalves[rng() % 6], kHalves[rng() % 6]};
    const int cmp = std::memcmp(big_endian(a).data(), big_endian(b).data(), 16);
    ASSERT_EQ(a < b, cmp < 0);
    ASSERT_EQ(a <= b, cmp <= 0);
    ASSERT_EQ(a == b, cmp == 0);
  }
}

}  // namespace
}  // namespace enrichd

namespace enrichd {
namespace {

// The encoder's allocation-free formatter writes exactly what format_ip (inet_ntop) writes.
TEST(FormatIpToTest, AgreesWithFormatIp) {
  std::mt19937_64 rng(5);
  char buf[kMaxIpText];
  for (int i = 0; i < 200000; ++i) {
    IpAddress a;
    a.is_v6 = i % 4 == 3;
    a.v4 = static_cast<uint32_t>(i % 7 == 0 ? (rng() & 0x01010101) : rng());  // many 0 and 1-digit octets
    a.v6 = {i % 3 == 0 ? 0 : rng(), i % 5 == 0 ? 0 : rng()};
    const size_t n = format_ip_to(a, buf);
    ASSERT_EQ(std::string(buf, n), format_ip(a));
  }
  for (uint32_t v4 : {0U, UINT32_MAX, 0x0a000001U, 0x64646464U}) {
    const IpAddress a{false, v4, {}};
    EXPECT_EQ(std::string(buf, format_ip_to(a, buf)), format_ip(a));
  }
}

TEST(IpAddressTest, ZoneIdsAreCheckedAndLeftOut) {
  EXPECT_EQ(without_zone_id("1.2.3.4"), std::optional<std::string_view>("1.2.3.4"));
  EXPECT_EQ(without_zone_id("fe80::1"), std::optional<std::string_view>("fe80::1"));
  EXPECT_EQ(without_zone_id("fe80::1%eth0"), std::optional<std::string_view>("fe80::1"));
  EXPECT_EQ(without_zone_id("fe80::1%2"), std::optional<std::string_view>("fe80::1"));
  EXPECT_EQ(without_zone_id("::ffff:1.2.3.4%en0.1_a~b-c"), std::optional<std::string_view>("::ffff:1.2.3.4"));
  EXPECT_EQ(without_zone_id("fe80::1%" + std::string(64, 'z')), std::optional<std::string_view>("fe80::1"));
  for (const std::string& bad :
       std::vector<std::string>{"1.2.3.4%eth0", "fe80::1%", "fe80::1%eth 0", "fe80::1%eth0%1", "fe80::1%e/0",
                                "%eth0", "fe80::1%" + std::string(65, 'z'), std::string("fe80::1%e\0", 10)}) {
    EXPECT_EQ(without_zone_id(bad), std::nullopt) << bad;
  }
  // What is left is still checked as an address.
  EXPECT_EQ(parse_ip(*without_zone_id("fe80::1%eth0")), parse_ip("fe80::1"));
  EXPECT_FALSE(parse_ip(*without_zone_id("fe80:::1%eth0")));
  EXPECT_FALSE(parse_ip("fe80::1%eth0"));  // parse_ip itself takes no zone
}

}  // namespace
}  // namespace enrichd
