#include "host/geo_snapshot.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <vector>

namespace enrichd {
namespace {

constexpr uint32_t kByteOrderMark = 0x01020304;
constexpr uint64_t kAlign = 64;

enum SectionId : uint32_t {
  kV4Starts = 1,
  kV4Records,
  kV6Starts64,
  kV6Starts128,
  kV6Records,
  kRecords,
  kStringOffsets,
  kStringData,
  kV4Aliases,
  kDescription,
  kSectionCount = kDescription,
};

struct Header {
  std::array<char, 8> magic;
  uint32_t version;
  uint32_t byte_order;
  uint64_t file_bytes;
  uint32_t crc32;  // of the whole file with this field read as zero
  uint32_t section_count;
  int64_t created_unix;
  uint64_t reserved[3];
};
static_assert(sizeof(Header) == 64);

struct Section {
  uint32_t id;
  uint32_t elem_size;
  uint64_t offset;
  uint64_t count;
};
static_assert(sizeof(Section) == 24);
static_assert(sizeof(GeoRecordEntry) == 40 && sizeof(V4Alias) == 24 && sizeof(Ipv6) == 16);

uint64_t align_up(uint64_t n) {
  return (n + kAlign - 1) / kAlign * kAlign;
}

uint32_t crc_of(const unsigned char* data, uint64_t size, uint32_t crc) {
  while (size > 0) {  // crc32_z takes a size_t, but keep chunks modest for older zlib's uInt crc32
    const uInt chunk = static_cast<uInt>(std::min<uint64_t>(size, 1U << 30));
    crc = static_cast<uint32_t>(crc32(crc, data, chunk));
    data += chunk;
    size -= chunk;
  }
  return crc;
}

// CRC of a whole file image with the header's crc32 field read as zero.
uint32_t file_crc(const unsigned char* file, uint64_t size) {
  constexpr size_t kField = offsetof(Header, crc32);
  const unsigned char zero[sizeof(uint32_t)] = {};
  uint32_t crc = static_cast<uint32_t>(crc32(0, nullptr, 0));
  crc = crc_of(file, kField, crc);
  crc = crc_of(zero, sizeof zero, crc);
  return crc_of(file + kField + sizeof zero, size - kField - sizeof zero, crc);
}

struct Mapping {
  void* base = MAP_FAILED;
  size_t size = 0;
  ~Mapping() {
    if (base != MAP_FAILED) munmap(base, size);
  }
};

}  // namespace

Status write_geo_snapshot(const GeoTable& table, const std::string& path, std::string_view description) {
  const GeoTableArrays& a = table.arrays();
  struct Piece {
    uint32_t id, elem_size;
    const void* data;
    uint64_t count;
  };
  const Piece pieces[] = {
      {kV4Starts, 4, a.v4_starts.data(), a.v4_starts.size()},
      {kV4Records, 4, a.v4_records.data(), a.v4_records.size()},
      {kV6Starts64, 8, a.v6_starts64.data(), a.v6_starts64.size()},
      {kV6Starts128, 16, a.v6_starts.data(), a.v6_starts.size()},
      {kV6Records, 4, a.v6_records.data(), a.v6_records.size()},
      {kRecords, sizeof(GeoRecordEntry), a.records.data(), a.records.size()},
      {kStringOffsets, 4, a.string_offsets.data(), a.string_offsets.size()},
      {kStringData, 1, a.string_data.data(), a.string_data.size()},
      {kV4Aliases, sizeof(V4Alias), a.v4_aliases.data(), a.v4_aliases.size()},
      {kDescription, 1, description.data(), description.size()},
  };
  Header h{};
  h.magic = kGeoSnapshotMagic;
  h.version = kGeoSnapshotVersion;
  h.byte_order = kByteOrderMark;
  h.section_count = kSectionCount;
  h.created_unix =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  std::vector<Section> sections;
  uint64_t offset = align_up(sizeof(Header) + sizeof(Section) * kSectionCount);
  for (const Piece& p : pieces) {
    sections.push_back({p.id, p.elem_size, offset, p.count});
    offset = align_up(offset + p.elem_size * p.count);
  }
  h.file_bytes = offset;

  std::vector<unsigned char> image(h.file_bytes, 0);
  std::memcpy(image.data(), &h, sizeof h);
  std::memcpy(image.data() + sizeof h, sections.data(), sizeof(Section) * sections.size());
  for (size_t i = 0; i < sections.size(); ++i) {
    if (pieces[i].count > 0) {
      std::memcpy(image.data() + sections[i].offset, pieces[i].data, pieces[i].elem_size * pieces[i].count);
    }
  }
  h.crc32 = file_crc(image.data(), image.size());
  std::memcpy(image.data() + offsetof(Header, crc32), &h.crc32, sizeof h.crc32);

  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Status::errorf("{}: cannot create: {}", tmp, std::strerror(errno));
    out.write(reinterpret_cast<const char*>(image.data()), static_cast<std::streamsize>(image.size()));
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      return Status::errorf("{}: write failed: {}", tmp, std::strerror(errno));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const Status s = Status::errorf("{}: cannot rename into place: {}", path, std::strerror(errno));
    std::remove(tmp.c_str());
    return s;
  }
  return Status::ok();
}

Result<GeoTable> load_geo_snapshot(const std::string& path, GeoSnapshotInfo* info) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::errorf("{}: cannot open: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::errorf("{}: cannot stat: {}", path, std::strerror(err));
  }
  auto map = std::make_shared<Mapping>();
  map->size = static_cast<size_t>(st.st_size);
  if (map->size < sizeof(Header)) {
    ::close(fd);
    return Status::errorf("{}: not an enrichd geo snapshot (only {} bytes)", path, map->size);
  }
  map->base = ::mmap(nullptr, map->size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  const int map_errno = errno;
  ::close(fd);
  if (map->base == MAP_FAILED) return Status::errorf("{}: cannot map: {}", path, std::strerror(map_errno));
  const auto* file = static_cast<const unsigned char*>(map->base);
  Header h{};
  std::memcpy(&h, file, sizeof h);
  if (h.magic != kGeoSnapshotMagic) {
    return Status::errorf("{}: not an enrichd geo snapshot (bad magic); make one with `enrichd geo import`",
                          path);
  }
  if (h.byte_order != kByteOrderMark) {
    return Status::errorf("{}: written on a machine of the other byte order; re-import it here", path);
  }
  if (h.version != kGeoSnapshotVersion) {
    return Status::errorf("{}: snapshot format version {}, this enrichd reads version {}; re-import it", path,
                          h.version, kGeoSnapshotVersion);
  }
  if (h.file_bytes != map->size) {
    return Status::errorf("{}: truncated or padded: the header says {} bytes, the file has {}", path,
                          h.file_bytes, map->size);
  }
  if (file_crc(file, map->size) != h.crc32) {
    return Status::errorf("{}: checksum mismatch: the file is corrupt; re-import it", path);
  }
  if (h.section_count != kSectionCount || sizeof(Header) + sizeof(Section) * h.section_count > map->size) {
    return Status::errorf("{}: bad section table ({} sections)", path, h.section_count);
  }
  const auto* sections = reinterpret_cast<const Section*>(file + sizeof(Header));
  const size_t expected_size[] = {0, 4, 4, 8, 16, 4, sizeof(GeoRecordEntry), 4, 1, sizeof(V4Alias), 1};
  const void* data[kSectionCount + 1] = {};
  uint64_t count[kSectionCount + 1] = {};
  for (uint32_t i = 0; i < h.section_count; ++i) {
    const Section& s = sections[i];
    if (s.id != i + 1 || s.elem_size != expected_size[s.id] || s.offset % kAlign != 0 ||
        s.offset > map->size || s.count > (map->size - s.offset) / s.elem_size) {
      return Status::errorf("{}: bad section {} (id {}, offset {}, {} x {} bytes)", path, i, s.id, s.offset,
                            s.count, s.elem_size);
    }
    data[s.id] = file + s.offset;
    count[s.id] = s.count;
  }
  auto span_of = [&](auto* type_tag, uint32_t id) {
    using T = std::remove_pointer_t<decltype(type_tag)>;
    return std::span<const T>(static_cast<const T*>(data[id]), count[id]);
  };
  GeoTableArrays a;
  a.v4_starts = span_of(static_cast<uint32_t*>(nullptr), kV4Starts);
  a.v4_records = span_of(static_cast<uint32_t*>(nullptr), kV4Records);
  a.v6_starts64 = span_of(static_cast<uint64_t*>(nullptr), kV6Starts64);
  a.v6_starts = span_of(static_cast<Ipv6*>(nullptr), kV6Starts128);
  a.v6_records = span_of(static_cast<uint32_t*>(nullptr), kV6Records);
  a.records = span_of(static_cast<GeoRecordEntry*>(nullptr), kRecords);
  a.string_offsets = span_of(static_cast<uint32_t*>(nullptr), kStringOffsets);
  a.string_data = span_of(static_cast<char*>(nullptr), kStringData);
  a.v4_aliases = span_of(static_cast<V4Alias*>(nullptr), kV4Aliases);
  const auto description = span_of(static_cast<char*>(nullptr), kDescription);
  if (info != nullptr) {
    *info = {h.version, h.file_bytes, h.created_unix, std::string(description.begin(), description.end())};
  }
  auto table = GeoTable::adopt(a, map);
  if (!table) return table.status().with_context(path + ": inconsistent contents");
  return table;
}

}  // namespace enrichd
