// `enrichd geo import|lookup|info`: build a snapshot from geo sources, look addresses up in any geo
// source on any backend, and describe a snapshot.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include "host/geo_import.h"
#include "host/geo_snapshot.h"
#include "kernels/backend.h"
#include "kernels/geo_lookup.h"
#include "pipeline/cli/commands.h"

namespace enrichd::cli {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

int geo_import(const std::vector<std::string>& sources, const std::string& output) {
  const auto t0 = Clock::now();
  auto table = load_geo(sources);
  if (!table) {
    spdlog::error("{}", table.status().message());
    return kExitBadConfig;
  }
  const double load_s = seconds_since(t0);
  std::string description = "sources:";
  for (const auto& s : sources) description += " " + s;
  if (Status s = write_geo_snapshot(*table, output, description); !s) {
    spdlog::error("{}", s.message());
    return kExitFailure;
  }
  spdlog::info("imported {} in {:.2f} s; wrote {}", table->summary(), load_s, output);
  return kExitOk;
}

int geo_info(const std::string& path) {
  GeoSnapshotInfo info;
  const auto t0 = Clock::now();
  auto table = load_geo_snapshot(path, &info);
  if (!table) {
    spdlog::error("{}", table.status().message());
    return kExitFailure;
  }
  std::cout << "file\t" << path << "\nformat_version\t" << info.version << "\nbytes\t" << info.file_bytes
            << "\ncreated_unix\t" << info.created_unix << "\ndescription\t" << info.description
            << "\nipv4_ranges\t" << table->v4_range_count() << "\nipv6_ranges\t" << table->v6_range_count()
            << "\nipv6_key_bits\t" << (table->v6_is_64bit() ? 64 : 128) << "\nrecords\t"
            << table->record_count() << "\nipv4_aliases\t" << table->v4_aliases().size() << "\nload_seconds\t"
            << fmt::format("{:.3f}", seconds_since(t0)) << '\n';
  return kExitOk;
}

void write_row(std::string& out, std::string_view input, const GeoTable& table, uint32_t record) {
  out.append(input);
  if (record == kNoRecord) {
    out.append("\t\t\t\t\t\t\t\n");
    return;
  }
  const GeoRecordView r = table.record(record);
  fmt::format_to(std::back_inserter(out), "\t{}\t{}\t{}\t{}\t", r.country_code, r.region, r.city,
                 r.postal_code);
  if (r.has_location)
    fmt::format_to(std::back_inserter(out), "{}\t{}", r.latitude, r.longitude);
  else
    out.push_back('\t');
  fmt::format_to(std::back_inserter(out), "\t{}\n", r.timezone);
}

// Reads addresses from stdin in batches and writes one TSV row each, in input order.
int geo_lookup(const std::vector<std::string>& sources, const std::string& backend_name, size_t batch_size) {
  auto table = load_geo(sources);
  if (!table) {
    spdlog::error("{}", table.status().message());
    return kExitBadConfig;
  }
  auto backend = make_backend(backend_name);
  if (!backend) {
    spdlog::error("{}", backend.status().message());
    return kExitBadConfig;
  }
  spdlog::debug("geo table: {}; backend {}", table->summary(), (*backend)->name());
  std::ios::sync_with_stdio(false);
  GeoLookup lookup;
  std::vector<std::string> lines;
  std::vector<std::optional<IpAddress>> parsed;
  std::vector<uint32_t> records;
  std::string out;
  size_t bad = 0;
  bool more = true;
  while (more) {
    lines.clear();
    std::string line;
    while (lines.size() < batch_size && (more = static_cast<bool>(std::getline(std::cin, line)))) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      lines.push_back(std::move(line));
    }
    parsed.assign(lines.size(), std::nullopt);
    records.assign(lines.size(), kNoRecord);
    lookup.clear();
    for (size_t i = 0; i < lines.size(); ++i) {
      parsed[i] = parse_ip(lines[i]);
      if (parsed[i]) lookup.add(*table, static_cast<uint32_t>(i), *parsed[i]);
    }
    if (Status s = lookup.run(**backend, *table); !s) {
      spdlog::error("lookup failed: {}", s.message());
      return kExitFailure;
    }
    lookup.for_each_result([&](uint32_t row, uint32_t record) { records[row] = record; });
    out.clear();
    for (size_t i = 0; i < lines.size(); ++i) {
      if (!parsed[i]) {
        ++bad;
        out.append(lines[i]).append("\terror: not an IPv4 or IPv6 address\n");
      } else {
        write_row(out, lines[i], *table, records[i]);
      }
    }
    std::cout << out;
  }
  std::cout.flush();
  if (bad != 0) {
    spdlog::warn("{} line(s) were not addresses (error rows written)", bad);
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

void add_geo_command(CLI::App& app, Action& action) {
  CLI::App* geo =
      app.add_subcommand("geo", "Geo reference data: import sources into a snapshot, look addresses up");
  geo->require_subcommand(1);
  geo->footer(
      "Sources (detected by content): an enrichd snapshot; a MaxMind .mmdb (GeoIP2/GeoLite2 City or "
      "Country,\n"
      "or the ip-location-db layout); ranges CSV start,end,... (text or decimal addresses; 3, 8 or 10\n"
      "fields); the GeoLite2 CSV Blocks-IPv4/IPv6 files plus one Locations file. Several sources are\n"
      "combined into one table (their ranges must not overlap).");

  auto import_sources = std::make_shared<std::vector<std::string>>();
  auto output = std::make_shared<std::string>();
  CLI::App* imp =
      geo->add_subcommand("import", "Import geo sources into a snapshot file that loads in milliseconds");
  imp->add_option("sources", *import_sources, "Geo source files")->required()->check(CLI::ExistingFile);
  imp->add_option("-o,--output", *output, "Snapshot file to write (replaced atomically)")->required();
  imp->callback([&action, import_sources, output] {
    action = [import_sources, output] { return geo_import(*import_sources, *output); };
  });

  auto lookup_sources = std::make_shared<std::vector<std::string>>();
  auto backend = std::make_shared<std::string>("auto");
  auto batch = std::make_shared<size_t>(65536);
  CLI::App* look = geo->add_subcommand(
      "lookup", "Look up addresses read from stdin (one per line); write one TSV row per address");
  look->add_option("--db", *lookup_sources, "Geo source(s): a snapshot, .mmdb or CSV files")
      ->required()
      ->check(CLI::ExistingFile);
  look->add_option("--backend", *backend, "auto, cuda, avx2 or scalar")->capture_default_str();
  look->add_option("--batch", *batch, "Addresses per backend call")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 24));
  look->footer(
      "Rows: ip country_code region city postcode latitude longitude timezone (tab-separated; empty fields\n"
      "where the record has none, all empty outside every range). A line that is not an address gets the\n"
      "row '<line>\\terror: ...' and the lookup carries on; the exit code is then 1.");
  look->callback([&action, lookup_sources, backend, batch] {
    action = [lookup_sources, backend, batch] { return geo_lookup(*lookup_sources, *backend, *batch); };
  });

  auto info_path = std::make_shared<std::string>();
  CLI::App* info = geo->add_subcommand("info", "Check a snapshot (checksum included) and describe it");
  info->add_option("snapshot", *info_path, "Snapshot file")->required()->check(CLI::ExistingFile);
  info->callback([&action, info_path] { action = [info_path] { return geo_info(*info_path); }; });
}

}  // namespace enrichd::cli
