// A standalone main for fuzz targets, for compilers without libFuzzer (g++): runs
// LLVMFuzzerTestOneInput over a seed corpus of valid .lbm files (made here with LbmWriter)
// and then over random mutations of them until the time budget is spent.
//
//   lbm_fuzz [--seconds N] [--seed S] [--crash-file PATH] [--write-corpus DIR] [FILE...]
//
// FILE arguments are run once each (to replay a saved input) instead of fuzzing.
// --write-corpus writes the seeds as files (a starting corpus for lbm_libfuzzer) and exits.
// The mutation sequence depends only on --seed. An exception escaping the target (anything
// but lowbit::Error, which the target handles) saves the input to the crash file and exits
// 1; a fatal signal saves it too. Build with -DLOWBIT_SANITIZE=ON to catch memory errors.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "lowbit/core/error.hpp"
#include "lowbit/core/file_io.hpp"
#include "lowbit/core/rng.hpp"
#include "lowbit/format/lbm.hpp"
#include "lowbit/format/model_desc.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

#if defined(__SANITIZE_ADDRESS__)
#define LBM_FUZZ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LBM_FUZZ_ASAN 1
#endif
#endif
#ifdef LBM_FUZZ_ASAN
// Sanitizer builds keep the sanitizer's own signal handlers (better reports) and save the
// input from its death callback instead.
extern "C" void __sanitizer_set_death_callback(void (*callback)(void));
#endif

namespace {

using Bytes = std::vector<uint8_t>;
namespace L = lowbit::format::lbm_layout;
using lowbit::format::LbmWriter;

// ---- seeds ----

Bytes fill(size_t n, uint8_t seed) {
  Bytes v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + 31 * i);
  return v;
}

// A small valid model description (the IR): a padded, pooled convolution on 2-bit codes
// into +-1 codes, and a dense score layer with BatchNorm; int8 and pm1 weight encodings.
// `sums`: the convolution's 2-bit output codes sum-pooled 2x2 instead (the dense layer
// reads sums of 4 2-bit codes: "sum_pool", "count"). `coding`: the weights compressed
// (rle, huffman: ternary layers only; format/weight_coding.hpp).
Bytes model_seed(bool ternary, bool sums = false,
                 lowbit::format::WeightCoding coding = lowbit::format::WeightCoding::kDense) {
  namespace F = lowbit::format;
  F::ModelDesc d;
  d.name = "seed";
  d.input.shape = {1, 4, 4};
  d.input.codes = F::CodeFormat::unsigned_bits(2);
  for (int p = 0; p < 256; ++p) d.input.table[static_cast<size_t>(p)] = static_cast<uint8_t>(p / 64);
  F::LayerDesc c;
  c.kind = F::LayerKind::kConv;
  c.name = "conv2d@1";
  c.in_h = 4, c.in_w = 4, c.in_c = 1, c.out = 3;
  c.input = d.input.codes;
  c.kernel_h = c.kernel_w = 3, c.pad_h = c.pad_w = 1;
  for (int64_t i = 0; i < c.out * c.in_fan(); ++i) c.weights.push_back(ternary ? static_cast<int32_t>(i % 3) - 1 : (i % 2 ? 1 : -1));
  c.negated = {0, 1, 0};
  if (sums) {
    c.sum_pool = {2, 2};
    c.output = F::CodeFormat::unsigned_bits(2);
    c.levels = 3;
    c.thresholds = {-2, 0, 3, -1, -1, 1, 0, 2, 2};
  } else {
    c.pool = {2, 2};
    c.output = F::CodeFormat::plus_minus_one();
    c.levels = 1;
    c.thresholds = {-2, 0, 3};
  }
  F::LayerDesc s;
  s.name = "dense@5";
  s.in_h = 2, s.in_w = 2, s.in_c = 3, s.out = 2;
  s.input = c.out_codes();
  for (int64_t i = 0; i < s.out * s.in_fan(); ++i) s.weights.push_back(i % 3 ? 1 : -1);
  s.negated = {0, 0};
  s.scores = true;
  s.score.scale = {0.5f, 0.25f};
  s.score.bn_mean = {0.f, 1.f};
  s.score.bn_scale = {1.f, 2.f};
  s.score.bn_shift = {0.f, -1.f};
  d.layers = {c, s};
  F::WriteOptions wo;
  wo.weights = coding;
  return F::model_desc_bytes(d, wo);
}

// A residual block in the IR (version 3): a convolution into +-1 codes, a second one whose
// thresholds are chosen per level of its own input (the block's input, "shortcut"), and a
// dense score layer. `grouped`: the second convolution has SYQ tap groups instead.
Bytes version3_seed(bool grouped) {
  namespace F = lowbit::format;
  F::ModelDesc d;
  d.name = "residual";
  d.input.shape = {1, 4, 4};
  d.input.codes = F::CodeFormat::unsigned_bits(2);
  for (int p = 0; p < 256; ++p) d.input.table[static_cast<size_t>(p)] = static_cast<uint8_t>(p / 64);
  F::LayerDesc a;
  a.kind = F::LayerKind::kConv;
  a.in_h = 4, a.in_w = 4, a.in_c = 1, a.out = 3;
  a.input = d.input.codes;
  a.weights = {1, 2, -1};
  a.negated = {0, 0, 1};
  a.output = F::CodeFormat::plus_minus_one();
  a.levels = 1;
  a.thresholds = {1, 2, -1};
  F::LayerDesc b = a;
  b.in_c = 3;
  b.input = a.output;
  b.kernel_h = b.kernel_w = 3, b.pad_h = b.pad_w = 1;
  b.weights.clear();
  for (int64_t i = 0; i < b.out * b.in_fan(); ++i) b.weights.push_back(i % 5 ? 1 : -1);
  b.shortcut_from = 1;
  b.shortcut = b.input;
  b.thresholds = {3, -5, 0, INT32_MIN, 7, 2};  // (channel, shortcut level)
  if (grouped) {  // SYQ row scales instead: tap groups, float thresholds
    b.shortcut_from = -1;
    b.thresholds.clear();
    b.tap_group = {0, 0, 0, 1, 1, 1, 2, 2, 2};
    b.group_scale = {0.5f, 0.25f, 0.125f};
    b.float_thresholds = {-1.f, 0.5f, 2.f};
  }
  F::LayerDesc s;
  s.in_h = 4, s.in_w = 4, s.in_c = 3, s.out = 2;
  s.input = b.output;
  for (int64_t i = 0; i < s.out * s.in_fan(); ++i) s.weights.push_back(i % 3 ? 1 : -1);
  s.negated = {0, 0};
  s.scores = true;
  s.score.scale = {0.5f, 0.25f};
  d.layers = {a, b, s};
  return F::model_desc_bytes(d);
}

std::vector<Bytes> make_seeds() {
  std::vector<Bytes> seeds;
  seeds.push_back(version3_seed(false));
  seeds.push_back(version3_seed(true));
  seeds.push_back(model_seed(false));
  seeds.push_back(model_seed(true));
  seeds.push_back(model_seed(false, /*sums=*/true));
  // Compressed weights: the rle and huffman decoders (every layer's codes are +-1 or 0).
  seeds.push_back(model_seed(true, false, lowbit::format::WeightCoding::kRle));
  seeds.push_back(model_seed(true, false, lowbit::format::WeightCoding::kHuffman));
  seeds.push_back(model_seed(false, true, lowbit::format::WeightCoding::kHuffman));
  seeds.push_back(LbmWriter().bytes());
  {
    LbmWriter w;
    w.add_json("model", R"({"layers":[{"type":"dense","in":784,"out":10,"bits":1}]})");
    seeds.push_back(w.bytes());
  }
  {
    LbmWriter w;
    w.add_json("model", "{}");
    size_t sizes[] = {0, 1, 63, 64, 65, 300};
    for (size_t i = 0; i < std::size(sizes); ++i) {
      Bytes d = fill(sizes[i], static_cast<uint8_t>(i));
      w.add_blob(lowbit::cat("layer", i, ".weight"), d.data(), d.size());
    }
    seeds.push_back(w.bytes());
  }
  {
    LbmWriter w;
    for (int i = 0; i < 20; ++i) {
      Bytes d = fill(static_cast<size_t>(i), static_cast<uint8_t>(i));
      w.add_blob(lowbit::cat("b", i), d.data(), d.size());
    }
    seeds.push_back(w.bytes());
  }
  {
    LbmWriter w;
    Bytes d = fill(4096, 7);
    w.add_blob("big", d.data(), d.size());
    w.add_json("meta:a/b-c.d_e", R"({"x":1})");
    seeds.push_back(w.bytes());
  }
  return seeds;
}

// ---- mutations ----

uint32_t rd32(const Bytes& b, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{b[at + i]} << (8 * i);
  return v;
}
uint64_t rd64(const Bytes& b, size_t at) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{b[at + i]} << (8 * i);
  return v;
}
void wr(Bytes& b, size_t at, uint64_t v, int bytes) {
  for (int i = 0; i < bytes && at + i < b.size(); ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

// Recomputes the CRCs the (possibly damaged) header and table still let us locate, so that
// mutated inputs get past the CRC checks and reach the structural ones.
void fix_crcs(Bytes& b) {
  if (b.size() < L::kHeaderBytes) return;
  uint64_t table_at = rd64(b, L::kTableOffsetAt);
  uint64_t count = rd32(b, L::kSectionCountAt);
  if (table_at <= b.size() && count * L::kEntryBytes <= b.size() - table_at) {
    for (uint64_t i = 0; i < count; ++i) {
      size_t e = static_cast<size_t>(table_at + i * L::kEntryBytes);
      uint64_t off = rd64(b, e + L::kEntryOffsetAt), size = rd64(b, e + L::kEntrySizeAt);
      if (off <= b.size() && size <= b.size() - off) wr(b, e + L::kEntryCrcAt, lowbit::crc32(b.data() + off, size), 4);
    }
    wr(b, L::kTableCrcAt, lowbit::crc32(b.data() + table_at, count * L::kEntryBytes), 4);
  }
  wr(b, L::kHeaderCrcAt, lowbit::crc32(b.data(), L::kHeaderCrcAt), 4);
}

struct Field {
  size_t at;
  int bytes;
};

// A header or table field of `b` (table entries located through the header when possible).
Field pick_field(const Bytes& b, lowbit::Rng& rng) {
  static const Field header[] = {{L::kVersionAt, 4},     {L::kHeaderSizeAt, 4}, {L::kFileSizeAt, 8},
                                 {L::kTableOffsetAt, 8}, {L::kSectionCountAt, 4}, {L::kTableCrcAt, 4},
                                 {L::kHeaderReservedAt, 8}, {L::kHeaderCrcAt, 4}};
  static const Field entry[] = {{L::kEntryNameAt, 8},  {L::kEntryKindAt, 4}, {L::kEntryFlagsAt, 4}, {L::kEntryOffsetAt, 8},
                                {L::kEntrySizeAt, 8},  {L::kEntryCrcAt, 4},  {L::kEntryReservedAt, 4}, {24, 8}};
  if (b.size() < L::kHeaderBytes || rng.below(3) == 0) return header[rng.below(std::size(header))];
  uint64_t table_at = rd64(b, L::kTableOffsetAt), count = rd32(b, L::kSectionCountAt);
  if (table_at > b.size() || count == 0) table_at = L::kHeaderBytes, count = 1;
  Field f = entry[rng.below(std::size(entry))];
  f.at += static_cast<size_t>(std::min<uint64_t>(table_at + rng.below(std::min<uint64_t>(count, 64)) * L::kEntryBytes,
                                                 b.size()));
  return f;
}

uint64_t interesting(const Bytes& b, lowbit::Rng& rng) {
  const uint64_t n = b.size();
  const uint64_t values[] = {0,          1,           2,          3,          31,          32,
                             63,         64,          65,         127,        128,         255,
                             256,        4096,        0x7fffffff, 0x80000000, 0xffffffff,  uint64_t{1} << 32,
                             uint64_t{1} << 63, ~uint64_t{0}, ~uint64_t{0} - 63, ~uint64_t{0} - 64, n, n - 1,
                             n + 1,      n + 64,      n & ~uint64_t{63}, (n | 63) + 1, n / 2, 65536, 65537};
  uint64_t v = values[rng.below(std::size(values))];
  return rng.below(8) ? v : v + rng.below(129) - 64;
}

void mutate(Bytes& b, const std::vector<Bytes>& seeds, lowbit::Rng& rng) {
  switch (rng.below(10)) {
    case 0:  // bit flip
      if (!b.empty()) b[rng.below(b.size())] ^= static_cast<uint8_t>(1u << rng.below(8));
      break;
    case 1: {  // byte set
      static const uint8_t bytes[] = {0, 1, 0x3f, 0x40, 0x7f, 0x80, 0xff, ' ', '.', '\n'};
      if (!b.empty()) b[rng.below(b.size())] = rng.below(2) ? bytes[rng.below(std::size(bytes))] : static_cast<uint8_t>(rng.next_u32());
      break;
    }
    case 2:  // truncate
      b.resize(rng.below(b.size() + 1));
      break;
    case 3: {  // append
      size_t k = rng.below(130);
      for (size_t i = 0; i < k; ++i) b.push_back(rng.below(2) ? 0 : static_cast<uint8_t>(rng.next_u32()));
      break;
    }
    case 4: {  // splice: our prefix, another seed's suffix
      const Bytes& o = seeds[rng.below(seeds.size())];
      size_t cut = rng.below(b.size() + 1), from = rng.below(o.size() + 1);
      b.resize(cut);
      b.insert(b.end(), o.begin() + static_cast<std::ptrdiff_t>(from), o.end());
      break;
    }
    case 5: {  // erase or duplicate a range
      if (b.empty()) break;
      size_t at = rng.below(b.size()), len = 1 + rng.below(std::min<size_t>(b.size() - at, 128));
      if (rng.below(2))
        b.erase(b.begin() + static_cast<std::ptrdiff_t>(at), b.begin() + static_cast<std::ptrdiff_t>(at + len));
      else
        b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), b.begin() + static_cast<std::ptrdiff_t>(at),
                 b.begin() + static_cast<std::ptrdiff_t>(at + len));
      break;
    }
    case 6:
    case 7:
    case 8: {  // an interesting value in a header or table field
      Field f = pick_field(b, rng);
      wr(b, f.at, interesting(b, rng), f.bytes);
      break;
    }
    case 9: {  // copy one table entry over another (duplicate names, overlapping data)
      if (b.size() < L::kHeaderBytes) break;
      uint64_t table_at = rd64(b, L::kTableOffsetAt), count = rd32(b, L::kSectionCountAt);
      if (count < 2 || table_at > b.size() || count * L::kEntryBytes > b.size() - table_at) break;
      size_t src = static_cast<size_t>(table_at + rng.below(count) * L::kEntryBytes);
      size_t dst = static_cast<size_t>(table_at + rng.below(count) * L::kEntryBytes);
      size_t len = rng.below(2) ? L::kEntryBytes : L::kNameBytes;
      std::memmove(b.data() + dst, b.data() + src, len);
      break;
    }
  }
}

// ---- crash reporting ----

const Bytes* g_current = nullptr;
std::string g_crash_file = "lbm_fuzz_crash.lbm";

void save_current() {  // async-signal-safe: open/write/close only
  if (!g_current) return;
  int fd = ::open(g_crash_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  const uint8_t* p = g_current->data();
  size_t n = g_current->size();
  while (n) {
    ssize_t w = ::write(fd, p, n);
    if (w <= 0) break;
    p += w;
    n -= static_cast<size_t>(w);
  }
  ::close(fd);
}

#ifndef LBM_FUZZ_ASAN
void on_fatal_signal(int sig) {
  save_current();
  const char msg[] = "lbm_fuzz: fatal signal; input saved to the crash file\n";
  ssize_t ignored = ::write(2, msg, sizeof msg - 1);
  (void)ignored;
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}
#endif

// Runs one input; false (after saving it) if anything escaped the target.
bool run_one(const Bytes& input) {
  g_current = &input;
  try {
    LLVMFuzzerTestOneInput(input.data(), input.size());
  } catch (const std::exception& e) {
    save_current();
    std::fprintf(stderr, "lbm_fuzz: BUG: exception escaped the target: %s\ninput (%zu bytes) saved to %s\n", e.what(),
                 input.size(), g_crash_file.c_str());
    return false;
  } catch (...) {
    save_current();
    std::fprintf(stderr, "lbm_fuzz: BUG: unknown exception escaped the target\ninput saved to %s\n", g_crash_file.c_str());
    return false;
  }
  g_current = nullptr;
  return true;
}

// Which check rejected an input, for the coverage summary.
std::string reason_of(const Bytes& b) {
  static const char* const kReasons[] = {
      "too large",           "empty file",       "magic",          "truncated",      "unsupported format version",
      "header size",         "header corrupted", "is reserved",    "trailing bytes", "sections, over the limit",
      "section table offset", "section table (", "section table corrupted", "not NUL-terminated", "empty name",
      "name has",            "after the name",   "unknown kind",   "flags",          "reserved field",
      "data offset",         "runs past the end", "duplicate name", "overlaps",      "padding byte",
      "corrupted (CRC"};
  lowbit::format::LbmLimits limits;
  limits.max_file_bytes = 1 << 20;
  limits.max_sections = 256;
  lowbit::format::LbmFile f;
  try {
    f = lowbit::format::LbmFile::parse(b.data(), b.size(), "fuzz.lbm", limits);
  } catch (const lowbit::Error& e) {
    std::string m = e.what();
    for (const char* r : kReasons)
      if (m.find(r) != std::string::npos) return r;
    return "other: " + m;
  }
  if (!f.find("model")) return "(accepted, no model)";
  try {
    lowbit::format::read_model_desc(f);
    return "(accepted, model read)";
  } catch (const lowbit::Error&) {
    return "(accepted, model refused)";
  }
}

int usage() {
  std::fprintf(stderr, "usage: lbm_fuzz [--seconds N] [--seed S] [--crash-file PATH] [--write-corpus DIR] [FILE...]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 10;
  uint64_t seed = 1;
  std::string corpus_dir;
  std::vector<std::string> files;
  try {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw lowbit::Error(a + " needs a value");
        return argv[++i];
      };
      if (a == "--seconds")
        seconds = std::stod(value());
      else if (a == "--seed")
        seed = std::stoull(value());
      else if (a == "--crash-file")
        g_crash_file = value();
      else if (a == "--write-corpus")
        corpus_dir = value();
      else if (a == "-h" || a == "--help")
        return usage(), 0;
      else if (!a.empty() && a[0] == '-')
        throw lowbit::Error("unknown flag " + a);
      else
        files.push_back(a);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lbm_fuzz: %s\n", e.what());
    return usage();
  }
#ifdef LBM_FUZZ_ASAN
  __sanitizer_set_death_callback(save_current);
#else
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) std::signal(sig, on_fatal_signal);
#endif

  const std::vector<Bytes> seeds = make_seeds();
  if (!corpus_dir.empty()) {
    lowbit::make_dirs(corpus_dir);
    for (size_t i = 0; i < seeds.size(); ++i)
      lowbit::write_file_atomic(corpus_dir + "/seed" + std::to_string(i) + ".lbm", seeds[i]);
    std::printf("lbm_fuzz: wrote %zu seeds to %s\n", seeds.size(), corpus_dir.c_str());
    return 0;
  }
  if (!files.empty()) {
    for (const std::string& f : files) {
      Bytes b = lowbit::read_file(f);
      if (!run_one(b)) return 1;
      std::printf("%s: %s\n", f.c_str(), reason_of(b).c_str());
    }
    return 0;
  }

  for (const Bytes& s : seeds)
    if (!run_one(s)) return 1;

  lowbit::Rng rng(seed);
  std::map<std::string, uint64_t> reasons;
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  uint64_t iterations = 0;
  Bytes input;
  for (;;) {
    if ((iterations & 63) == 0 && Clock::now() >= deadline) break;
    input = seeds[rng.below(seeds.size())];
    int edits = 1 + static_cast<int>(rng.below(4));
    for (int k = 0; k < edits; ++k) mutate(input, seeds, rng);
    // Most inputs get their size field and CRCs fixed up, to reach the deeper checks.
    if (rng.below(2) && input.size() >= L::kHeaderBytes) wr(input, L::kFileSizeAt, input.size(), 8);
    if (rng.below(4)) fix_crcs(input);
    if (!run_one(input)) {
      std::fprintf(stderr, "lbm_fuzz: after %llu iterations (--seed %llu)\n", static_cast<unsigned long long>(iterations),
                   static_cast<unsigned long long>(seed));
      return 1;
    }
    if ((iterations & 31) == 0) ++reasons[reason_of(input)];  // a sample, for the summary
    ++iterations;
  }
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("lbm_fuzz: %llu iterations in %.1f s (%.0f/s), seed %llu, %zu seeds; no bugs found\n",
              static_cast<unsigned long long>(iterations), elapsed, elapsed > 0 ? iterations / elapsed : 0.0,
              static_cast<unsigned long long>(seed), seeds.size());
  std::printf("outcomes of a 1/32 sample:\n");
  for (const auto& [reason, count] : reasons)
    std::printf("  %8llu  %s\n", static_cast<unsigned long long>(count), reason.c_str());
  return 0;
}
