#include "lowbit/format/lbm.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <limits>

#include "lowbit/core/error.hpp"
#include "lowbit/core/file_io.hpp"
#include "lowbit/core/rng.hpp"
#include "test_util.hpp"

namespace lowbit::format {
namespace {

namespace fs = std::filesystem;
namespace L = lbm_layout;
using Bytes = std::vector<uint8_t>;

constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("lowbit_lbm_" + std::to_string(::getpid()) + "_" +
                                        std::to_string(reinterpret_cast<uintptr_t>(this)));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

// Little-endian field access, written independently of lbm.cpp.
void put32(Bytes& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.at(at + i) = static_cast<uint8_t>(v >> (8 * i));
}
void put64(Bytes& b, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) b.at(at + i) = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t get32(const Bytes& b, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{b.at(at + i)} << (8 * i);
  return v;
}
uint64_t get64(const Bytes& b, size_t at) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{b.at(at + i)} << (8 * i);
  return v;
}

size_t entry_at(const Bytes& b, size_t i) { return static_cast<size_t>(get64(b, L::kTableOffsetAt)) + i * L::kEntryBytes; }

// Recomputes every CRC that the (possibly patched) header and table still let us locate, so
// that the check under test, not a CRC check, is the one that fires.
void fix_crcs(Bytes& b) {
  uint64_t table_at = get64(b, L::kTableOffsetAt);
  uint64_t count = get32(b, L::kSectionCountAt);
  if (table_at <= b.size() && count * L::kEntryBytes <= b.size() - table_at) {
    for (uint64_t i = 0; i < count; ++i) {
      size_t e = static_cast<size_t>(table_at + i * L::kEntryBytes);
      uint64_t off = get64(b, e + L::kEntryOffsetAt), size = get64(b, e + L::kEntrySizeAt);
      if (off <= b.size() && size <= b.size() - off) put32(b, e + L::kEntryCrcAt, crc32(b.data() + off, size));
    }
    put32(b, L::kTableCrcAt, crc32(b.data() + table_at, count * L::kEntryBytes));
  }
  put32(b, L::kHeaderCrcAt, crc32(b.data(), L::kHeaderCrcAt));
}

Bytes pattern(size_t n, uint8_t seed) {
  Bytes v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
  return v;
}

const std::string kJson = R"({"layers":[{"type":"dense","in":784,"out":10}]})";
const std::vector<size_t> kBlobSizes = {1, 63, 64, 65, 1000};

// A file with a JSON section, blobs of odd sizes and an empty blob.
Bytes sample() {
  LbmWriter w;
  w.add_json("model", kJson);
  for (size_t i = 0; i < kBlobSizes.size(); ++i) {
    Bytes d = pattern(kBlobSizes[i], static_cast<uint8_t>(i + 1));
    w.add_blob("blob." + std::to_string(i), d.data(), d.size());
  }
  w.add_blob("empty", nullptr, 0);
  return w.bytes();
}
constexpr size_t kSampleSections = 7;

LbmFile parse(const Bytes& b, const LbmLimits& limits = {}) {
  return LbmFile::parse(b.data(), b.size(), "sample.lbm", limits);
}

// Expects parse(b) to throw a lowbit::Error that starts with the file name and contains
// every needle.
void expect_bad(const Bytes& b, std::initializer_list<std::string> needles, const LbmLimits& limits = {}) {
  std::string msg = testing::error_of([&] { parse(b, limits); });
  ASSERT_FALSE(msg.empty()) << "accepted a bad file; expected an error with '" << *needles.begin() << "'";
  EXPECT_EQ(msg.rfind("sample.lbm: ", 0), 0u) << msg;
  for (const std::string& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "missing '" << n << "' in: " << msg;
}

// ---- round trips ----

TEST(LbmRoundTrip, SectionsComeBackAlignedAndEqual) {
  Bytes img = sample();
  LbmFile f = parse(img);
  EXPECT_EQ(f.version(), kLbmVersion);
  EXPECT_EQ(f.source(), "sample.lbm");
  ASSERT_EQ(f.sections().size(), kSampleSections);
  EXPECT_EQ(f.json_text("model"), kJson);
  for (size_t i = 0; i < kBlobSizes.size(); ++i) {
    const LbmSection& s = f.get("blob." + std::to_string(i), SectionKind::kBlob);
    EXPECT_EQ(&s, &f.sections()[i + 1]);  // table order = order of adding
    Bytes want = pattern(kBlobSizes[i], static_cast<uint8_t>(i + 1));
    ASSERT_EQ(s.size, want.size());
    EXPECT_EQ(std::memcmp(s.data, want.data(), want.size()), 0) << s.name;
  }
  EXPECT_EQ(f.get("empty", SectionKind::kBlob).size, 0u);
  for (const LbmSection& s : f.sections())
    EXPECT_EQ(reinterpret_cast<uintptr_t>(s.data) % kLbmAlign, 0u) << s.name;
  EXPECT_EQ(f.find("absent"), nullptr);
}

TEST(LbmRoundTrip, ThroughAFileAtomically) {
  TempDir d;
  std::string p = (d.path / "m.lbm").string();
  LbmWriter w;
  w.add_json("model", "{}");
  Bytes blob = pattern(4097, 3);
  w.add_blob("w", blob.data(), blob.size());
  w.write(p);
  w.write(p);  // replacing an existing file
  LbmFile f = LbmFile::read(p);
  EXPECT_EQ(f.source(), p);
  EXPECT_EQ(f.json_text("model"), "{}");
  const LbmSection& s = f.get("w", SectionKind::kBlob);
  EXPECT_EQ(Bytes(s.data, s.data + s.size), blob);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(s.data) % kLbmAlign, 0u);
  EXPECT_EQ(read_file(p), w.bytes());
  int files = 0;
  for (auto& e : fs::directory_iterator(d.path)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);  // no temporaries left
  testing::expect_error_naming([&] { w.write("/nonexistent/lowbit/m.lbm"); }, "/nonexistent/lowbit/m.lbm");
}

TEST(LbmRoundTrip, NoSectionsIsJustTheHeader) {
  Bytes img = LbmWriter().bytes();
  EXPECT_EQ(img.size(), L::kHeaderBytes);
  EXPECT_TRUE(parse(img).sections().empty());
}

TEST(LbmRoundTrip, CopiesShareTheStorage) {
  Bytes img = sample();
  auto f = std::make_unique<LbmFile>(parse(img));
  LbmFile copy = *f;
  const uint8_t* data = f->get("blob.4", SectionKind::kBlob).data;
  f.reset();
  std::fill(img.begin(), img.end(), 0);  // the file does not point into the caller's buffer
  EXPECT_EQ(copy.get("blob.4", SectionKind::kBlob).data, data);
  EXPECT_EQ(Bytes(data, data + 1000), pattern(1000, 5));
}

// The layout of docs/FORMAT.md, built by hand from the spec rather than by the writer.
TEST(LbmLayout, MatchesTheDocumentedBytes) {
  LbmWriter w;
  w.add_json("m", "{}");
  w.add_blob("b", "xyz", 3);
  // Header, a table of 2 entries at 64, "m" at 192, "b" at the next multiple of 64.
  Bytes want(256 + 3, 0);
  const uint8_t magic[8] = {0x89, 'L', 'B', 'M', 0x0D, 0x0A, 0x1A, 0x0A};
  std::memcpy(want.data(), magic, 8);
  put32(want, 8, 1);     // version
  put32(want, 12, 64);   // header size
  put64(want, 16, 259);  // file size
  put64(want, 24, 64);   // table offset
  put32(want, 32, 2);    // section count
  want[64] = 'm';
  put32(want, 64 + 32, 1);  // kind json
  put64(want, 64 + 40, 192);
  put64(want, 64 + 48, 2);
  put32(want, 64 + 56, crc32("{}", 2));
  want[128] = 'b';
  put32(want, 128 + 32, 2);  // kind blob
  put64(want, 128 + 40, 256);
  put64(want, 128 + 48, 3);
  put32(want, 128 + 56, crc32("xyz", 3));
  std::memcpy(want.data() + 192, "{}", 2);
  std::memcpy(want.data() + 256, "xyz", 3);
  put32(want, 36, crc32(want.data() + 64, 128));
  put32(want, 60, crc32(want.data(), 60));
  EXPECT_EQ(w.bytes(), want);
}

TEST(LbmWriter, RejectsBadAndDuplicateNames) {
  LbmWriter w;
  w.add_blob("ok_A-z.0:9/x", "a", 1);
  w.add_json(std::string(31, 'n'), "{}");  // the longest name
  for (std::string bad : {std::string(), std::string(32, 'n'), std::string("a b"), std::string("caf\xc3\xa9"),
                          std::string("a\0b", 3), std::string("x\n")}) {
    std::string msg = testing::error_of([&] { w.add_blob(bad, "a", 1); });
    EXPECT_NE(msg.find("lbm writer: section"), std::string::npos) << "accepted '" << bad << "': " << msg;
  }
  testing::expect_error_naming([&] { w.add_json("ok_A-z.0:9/x", "{}"); }, "'ok_A-z.0:9/x': duplicate name");
  testing::expect_error_naming([&] { w.add_blob("a b", "a", 1); }, "character ' '");
  testing::expect_error_naming([&] { w.add_blob("nul", nullptr, 5); }, "'nul': null data");
  EXPECT_EQ(parse(w.bytes()).sections().size(), 2u);  // the failed adds left nothing behind
}

TEST(LbmFileGet, ErrorsNameTheFileAndSection) {
  LbmFile f = parse(sample());
  testing::expect_error_naming([&] { f.get("weights", SectionKind::kBlob); }, "sample.lbm: no section 'weights'");
  testing::expect_error_naming([&] { f.get("model", SectionKind::kBlob); }, "sample.lbm: section 'model' is json, expected blob");
  testing::expect_error_naming([&] { f.json_text("blob.0"); }, "sample.lbm: section 'blob.0' is blob, expected json");
}

// ---- bad files ----

TEST(LbmBadFile, EveryPrefixIsRejected) {
  Bytes img = sample();
  for (size_t n = 0; n < img.size(); ++n) {
    Bytes prefix(img.begin(), img.begin() + static_cast<std::ptrdiff_t>(n));  // exact size: ASan sees over-reads
    SCOPED_TRACE(n);
    expect_bad(prefix, {n == 0 ? "empty file" : "truncated"});
  }
  Bytes cut(img.begin(), img.begin() + 1000);
  expect_bad(cut, {"sample.lbm: truncated: header says " + std::to_string(img.size()) + " bytes, file has 1000"});
}

TEST(LbmBadFile, TrailingBytes) {
  for (size_t extra : {1, 64, 1000}) {
    Bytes img = sample();
    size_t n = img.size();
    img.resize(n + extra, 0);
    expect_bad(img, {cat("trailing bytes: header says ", n, " bytes, file has ", n + extra, " (", extra, " extra)")});
  }
}

TEST(LbmBadFile, HeaderCrc) {
  const Bytes good = sample();
  for (size_t bit = 16 * 8; bit < L::kHeaderBytes * 8; ++bit) {  // bytes 0..15 are checked before the CRC
    Bytes img = good;
    img[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    SCOPED_TRACE(bit);
    expect_bad(img, {"header corrupted"});
  }
}

TEST(LbmBadFile, TableCrc) {
  const Bytes good = sample();
  for (size_t bit = 0; bit < kSampleSections * L::kEntryBytes * 8; bit += 3) {
    Bytes img = good;
    img[L::kHeaderBytes + bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    SCOPED_TRACE(bit);
    expect_bad(img, {"section table corrupted"});
  }
}

TEST(LbmBadFile, EachSectionCrc) {
  const Bytes good = sample();
  LbmFile f = parse(good);
  for (size_t i = 0; i < f.sections().size(); ++i) {
    const LbmSection& s = f.sections()[i];
    if (!s.size) continue;
    for (uint64_t at : {uint64_t{0}, s.size / 2, s.size - 1}) {
      Bytes img = good;
      img[get64(good, entry_at(good, i) + L::kEntryOffsetAt) + at] ^= 0x10;
      expect_bad(img, {cat("section ", i, " '", s.name, "' corrupted")});
    }
  }
}

TEST(LbmBadFile, NonZeroPadding) {
  Bytes img = sample();
  LbmFile f = parse(img);
  // blob.0 is 1 byte long; the 63 bytes after it are padding.
  uint64_t at = get64(img, entry_at(img, 1) + L::kEntryOffsetAt) + 1;
  img[at] = 1;
  expect_bad(img, {cat("padding byte at offset ", at, " is not 0")});
}

TEST(LbmBadFile, WrongMagic) {
  Bytes img = sample();
  Bytes gif = img;
  std::memcpy(gif.data(), "GIF89a\0\0", 8);
  expect_bad(gif, {"not a lowbit model file (bad magic)"});
  Bytes ckpt = img;
  std::memcpy(ckpt.data(), "LOWBITCK", 8);
  expect_bad(ckpt, {"training checkpoint"});
  Bytes text = img;  // a text-mode transfer turned "\r\n" into "\n"
  text.erase(text.begin() + 4);
  expect_bad(text, {"damaged magic"});
  expect_bad(Bytes{'x'}, {"bad magic"});
}

TEST(LbmBadFile, UnknownVersion) {
  for (uint32_t v : {0u, 2u, 0xFFFFFFFFu}) {
    Bytes img = sample();
    put32(img, L::kVersionAt, v);
    fix_crcs(img);
    expect_bad(img, {cat("unsupported format version ", v, " (this build reads version 1)")});
  }
}

TEST(LbmBadFile, HeaderFields) {
  Bytes img = sample();
  put32(img, L::kHeaderSizeAt, 128);
  fix_crcs(img);
  expect_bad(img, {"header size 128, expected 64"});
  img = sample();
  img[L::kHeaderReservedAt + 5] = 1;
  fix_crcs(img);
  expect_bad(img, {"header byte 45 is reserved"});
}

TEST(LbmBadFile, HugeSectionCount) {
  Bytes img = sample();
  put32(img, L::kSectionCountAt, 0xFFFFFFFFu);
  fix_crcs(img);
  expect_bad(img, {"4294967295 sections, over the limit of 65536"});
  put32(img, L::kSectionCountAt, 65536);  // within the limit, but the table cannot fit
  fix_crcs(img);
  expect_bad(img, {"section table (65536 entries at offset 64) runs past the end"});
  expect_bad(sample(), {"7 sections, over the limit of 6"}, LbmLimits{.max_sections = 6});
}

TEST(LbmBadFile, TableOffset) {
  for (uint64_t off : {uint64_t{0}, uint64_t{65}, kU64Max - 63, uint64_t{1} << 63}) {
    Bytes img = sample();
    put64(img, L::kTableOffsetAt, off);
    fix_crcs(img);
    SCOPED_TRACE(off);
    expect_bad(img, {off % 64 ? "is not a multiple of 64" : off == 0 ? "overlaps the header" : "runs past the end"});
  }
}

TEST(LbmBadFile, HugeSectionSizeAndOverflowingOffsets) {
  struct Case {
    uint64_t offset, size;
  };
  const Bytes good = sample();
  uint64_t real_off = get64(good, entry_at(good, 5) + L::kEntryOffsetAt);  // blob.4, 1000 bytes
  for (Case c : {Case{real_off, kU64Max}, Case{real_off, good.size()}, Case{kU64Max - 63, 128},
                 Case{uint64_t{1} << 63, uint64_t{1} << 63}, Case{(good.size() | 63) + 1, 0}}) {
    Bytes img = good;
    put64(img, entry_at(img, 5) + L::kEntryOffsetAt, c.offset);
    put64(img, entry_at(img, 5) + L::kEntrySizeAt, c.size);
    fix_crcs(img);
    SCOPED_TRACE(cat(c.offset, " + ", c.size));
    expect_bad(img, {"section 5 'blob.4': data (offset ", "runs past the end of the"});
  }
}

TEST(LbmBadFile, UnalignedOffset) {
  Bytes img = sample();
  size_t e = entry_at(img, 2);
  put64(img, e + L::kEntryOffsetAt, get64(img, e + L::kEntryOffsetAt) + 1);
  fix_crcs(img);
  expect_bad(img, {"section 2 'blob.1': data offset", "is not a multiple of 64"});
}

TEST(LbmBadFile, Overlaps) {
  const Bytes good = sample();
  auto with_offset = [&](size_t i, uint64_t off) {
    Bytes img = good;
    put64(img, entry_at(img, i) + L::kEntryOffsetAt, off);
    fix_crcs(img);
    return img;
  };
  expect_bad(with_offset(1, 64), {"section 1 'blob.0' [64, 65) overlaps the section table [64, 512)"});
  expect_bad(with_offset(5, 0), {"section 5 'blob.4' [0, 1000) overlaps the header [0, 64)"});
  uint64_t blob3 = get64(good, entry_at(good, 4) + L::kEntryOffsetAt);
  expect_bad(with_offset(5, blob3), {"'blob.3'", "'blob.4'", "overlaps"});
  // The table moved over a section's data.
  Bytes img = good;
  uint64_t blob4 = get64(good, entry_at(good, 5) + L::kEntryOffsetAt);
  std::memcpy(img.data() + blob4, img.data() + 64, kSampleSections * L::kEntryBytes);
  std::fill(img.begin() + 64, img.begin() + 64 + kSampleSections * L::kEntryBytes, 0);  // the old place is padding
  put64(img, L::kTableOffsetAt, blob4);
  fix_crcs(img);
  expect_bad(img, {"section 5 'blob.4'", "overlaps the section table"});
}

TEST(LbmBadFile, BadEntries) {
  const Bytes good = sample();
  auto patched = [&](size_t i, size_t field, const void* bytes, size_t n) {
    Bytes img = good;
    std::memcpy(img.data() + entry_at(img, i) + field, bytes, n);
    fix_crcs(img);
    return img;
  };
  std::string a32(32, 'a');
  expect_bad(patched(1, L::kEntryNameAt, a32.data(), 32), {"section 1: name is not NUL-terminated"});
  expect_bad(patched(1, L::kEntryNameAt, "\0", 1), {"section 1: empty name"});
  expect_bad(patched(1, L::kEntryNameAt, "a b", 3), {"section 1: name has character ' '"});
  expect_bad(patched(1, L::kEntryNameAt, "\xff", 1), {"section 1: name has byte 255"});
  expect_bad(patched(1, L::kEntryNameAt, "x\0y", 3), {"section 1 'x': bytes after the name's NUL must be 0"});
  expect_bad(patched(2, L::kEntryNameAt, "blob.0", 6), {"section 2 'blob.0': duplicate name (also section 1)"});
  expect_bad(patched(3, L::kEntryKindAt, "\x03\0\0\0", 4), {"section 3 'blob.2': unknown kind 3"});
  expect_bad(patched(3, L::kEntryKindAt, "\0\0\0\x01", 4), {"section 3 'blob.2': unknown kind 16777216"});
  expect_bad(patched(3, L::kEntryFlagsAt, "\x01\0\0\0", 4), {"section 3 'blob.2': flags 0x00000001"});
  expect_bad(patched(3, L::kEntryReservedAt, "\0\x02\0\0", 4), {"section 3 'blob.2': reserved field is 0x00000200"});
}

TEST(LbmBadFile, RandomCorruptionGivesErrorsOnly) {
  const Bytes good = sample();
  Rng rng(42);
  int rejected = 0;
  for (int it = 0; it < 3000; ++it) {
    Bytes img = good;
    int edits = 1 + static_cast<int>(rng.below(4));
    for (int k = 0; k < edits; ++k) img[rng.below(img.size())] = static_cast<uint8_t>(rng.next_u32());
    if (rng.below(2)) fix_crcs(img);
    try {
      parse(img);  // accepted: e.g. edits only in data, with the CRCs fixed up
    } catch (const Error& e) {
      ++rejected;
      EXPECT_EQ(std::string(e.what()).rfind("sample.lbm: ", 0), 0u) << e.what();
    }
  }
  EXPECT_GT(rejected, 1000);
}

// ---- reading from disk ----

TEST(LbmRead, FileNotFoundOrNotAFile) {
  testing::expect_error_naming([] { LbmFile::read("/nonexistent/lowbit/m.lbm"); }, "/nonexistent/lowbit/m.lbm: cannot open");
  TempDir d;
  testing::expect_error_naming([&] { LbmFile::read(d.path.string()); }, d.path.string() + ": is a folder, not a file");
  testing::expect_error_naming([&] { LbmFile::read("/dev/null"); }, "/dev/null: not a regular file");
}

TEST(LbmRead, BadFileErrorsNameThePath) {
  TempDir d;
  std::string p = (d.path / "model.lbm").string();
  Bytes img = sample();
  img.resize(1000);
  write_file_atomic(p, img);
  testing::expect_error_naming([&] { LbmFile::read(p); }, p + ": truncated: header says");
}

TEST(LbmRead, OversizedFileIsRejectedBeforeReading) {
  TempDir d;
  std::string p = (d.path / "big.lbm").string();
  write_file_atomic(p, sample());
  testing::expect_error_naming([&] { LbmFile::read(p, {.max_file_bytes = 1000}); }, p + ": too large: ");
  expect_bad(sample(), {"too large: "}, LbmLimits{.max_file_bytes = 1000});
  // A sparse file just over the default limit: rejected from its size, never allocated.
  std::error_code ec;
  fs::resize_file(p, (uint64_t{1} << 32) + 1, ec);
  if (ec) GTEST_SKIP() << "cannot make a sparse file here: " << ec.message();
  testing::expect_error_naming([&] { LbmFile::read(p); }, p + ": too large: 4294967297 bytes, over the limit of 4294967296");
}

}  // namespace
}  // namespace lowbit::format
