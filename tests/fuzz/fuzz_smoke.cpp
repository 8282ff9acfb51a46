// The fuzz smoke test the suite runs without libFuzzer: every seed of the corpus, then seeded random
// mutations of them (byte flips, insertions, deletions, splices, truncations), through the fuzz target.
//   enrichd_fuzz_smoke CORPUS_DIR [ITERATIONS]
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern size_t g_fuzz_events;
extern size_t g_fuzz_dead_letters;

namespace {

void run(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

std::string mutate(std::string s, const std::vector<std::string>& seeds, std::mt19937_64& rng) {
  static const char kInteresting[] = {'"',    '{',    '}', '[', ']', ':', ',', '\\', '\0', '\x1e',
                                      '\xff', '\xc3', '0', '9', '-', 'e', '.', ' ',  '\n', 'u'};
  const int edits = 1 + static_cast<int>(rng() % 8);
  for (int e = 0; e < edits; ++e) {
    const size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
    switch (rng() % 6) {
      case 0:
        if (!s.empty()) s[pos % s.size()] = static_cast<char>(rng());
        break;
      case 1:
        s.insert(pos, 1, kInteresting[rng() % sizeof kInteresting]);
        break;
      case 2:
        if (!s.empty()) s.erase(pos % s.size(), 1 + rng() % 8);
        break;
      case 3: {
        const std::string& other = seeds[rng() % seeds.size()];
        s.insert(pos, other.substr(0, rng() % (other.size() + 1)));
        break;
      }
      case 4:
        s.resize(pos);
        break;
      default:
        s.insert(pos, std::string(1 + rng() % 64, kInteresting[rng() % sizeof kInteresting]));
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR [ITERATIONS]\n", argv[0]);
    return 2;
  }
  const long iterations = argc > 2 ? std::strtol(argv[2], nullptr, 10) : 20000;
  std::vector<std::string> seeds;
  for (const auto& entry : std::filesystem::directory_iterator(argv[1])) {
    std::ifstream in(entry.path(), std::ios::binary);
    seeds.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (seeds.empty()) {
    std::fprintf(stderr, "no seeds in %s\n", argv[1]);
    return 2;
  }
  for (const std::string& s : seeds) run(s);
  std::mt19937_64 rng(20261126);
  for (long i = 0; i < iterations; ++i) run(mutate(seeds[rng() % seeds.size()], seeds, rng));
  std::printf("fuzz smoke: %zu seeds and %ld mutations passed (%zu events, %zu dead letters)\n", seeds.size(),
              iterations, g_fuzz_events, g_fuzz_dead_letters);
  // A corpus or mutator that never yields a good event (or never a bad one) tests too little.
  return g_fuzz_events > 0 && g_fuzz_dead_letters > 0 ? 0 : 1;
}
