// The .lbm container: writer and validating reader. Layout: docs/FORMAT.md, "Model file
// (.lbm)". Integers are encoded byte by byte (little-endian on any host).
//
// The reader trusts nothing it reads: every offset and size is checked against the file's
// real size with arithmetic that cannot overflow, before it is used; the only allocations
// are the file image itself (its size checked against LbmLimits first) and the section
// list (its count checked against LbmLimits and against the table's room in the file).
#include "lowbit/format/lbm.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <unordered_map>

#include "lowbit/core/error.hpp"
#include "lowbit/core/file_kind.hpp"
#include "lowbit/core/file_io.hpp"

namespace lowbit::format {
namespace {

namespace L = lbm_layout;

static_assert(L::kHeaderBytes % kLbmAlign == 0 && L::kEntryBytes % kLbmAlign == 0,
              "the table must keep the data after it aligned");

void put_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void put_u64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t get_u32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t get_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

uint64_t align_up(uint64_t v) { return (v + (kLbmAlign - 1)) / kLbmAlign * kLbmAlign; }

bool name_char_ok(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == ':' || c == '/' || c == '-';
}

// "" when `name` is a valid section name, else what is wrong with it.
std::string name_problem(std::string_view name) {
  if (name.empty()) return "empty name";
  if (name.size() >= L::kNameBytes) return cat("name is ", name.size(), " bytes, at most ", L::kNameBytes - 1);
  for (char c : name) {
    if (name_char_ok(c)) continue;
    auto b = static_cast<uint8_t>(c);
    std::string shown = b >= 0x20 && b < 0x7f ? cat("character '", c, "'") : cat("byte ", static_cast<int>(b));
    return cat("name has ", shown, " (allowed: A-Z a-z 0-9 _ . : / -)");
  }
  return "";
}

const char* kind_name(SectionKind k) { return k == SectionKind::kJson ? "json" : "blob"; }

// Storage for a file image: 64-byte aligned, shared by copies of an LbmFile.
std::shared_ptr<uint8_t> alloc_aligned(size_t n) {
  auto* p = static_cast<uint8_t*>(::operator new(n ? n : 1, std::align_val_t{kLbmAlign}));
  return std::shared_ptr<uint8_t>(p, [](uint8_t* q) { ::operator delete(q, std::align_val_t{kLbmAlign}); });
}

// A byte range of the file that something owns (header, table, a section's data).
struct Region {
  uint64_t begin, end;
  std::string label;
};

// Validates the image [p, p + n) and fills `sections` with pointers into it.
void validate(const uint8_t* p, uint64_t n, const std::string& what, const LbmLimits& limits, uint32_t& version,
              std::vector<LbmSection>& sections) {
  if (n > limits.max_file_bytes)
    fail(what, ": too large: ", n, " bytes, over the limit of ", limits.max_file_bytes, " (LbmLimits::max_file_bytes)");
  if (n == 0) fail(what, ": empty file (not a lowbit model file)");
  if (std::memcmp(p, L::kMagic, std::min<uint64_t>(n, sizeof L::kMagic)) != 0) {
    if (n >= 4 && std::memcmp(p, L::kMagic, 4) == 0)
      fail(what, ": damaged magic (line endings converted by a text-mode transfer?)");
    if (n >= 8 && std::memcmp(p, "LOWBITCK", 8) == 0)
      fail(what, ": a training checkpoint (.ckpt), not a model file (.lbm)");
    if (looks_like_onnx(p, n))
      fail(what, ": an ONNX model, not a lowbit model file (.lbm); a QONNX file is read by `lowbit import ", what,
           " -o model.lbm`");
    fail(what, ": not a lowbit model file (bad magic)");
  }
  if (n < L::kHeaderBytes) fail(what, ": truncated: ", n, " bytes, shorter than the ", L::kHeaderBytes, "-byte header");

  version = get_u32(p + L::kVersionAt);
  if (version != kLbmVersion)
    fail(what, ": unsupported format version ", version, " (this build reads version ", kLbmVersion, ")");
  uint32_t header_size = get_u32(p + L::kHeaderSizeAt);
  if (header_size != L::kHeaderBytes)
    fail(what, ": header size ", header_size, ", expected ", L::kHeaderBytes, " in version ", kLbmVersion);
  uint32_t header_crc = get_u32(p + L::kHeaderCrcAt), header_crc_now = crc32(p, L::kHeaderCrcAt);
  if (header_crc != header_crc_now)
    fail(what, ": header corrupted (CRC-32 ", hex32(header_crc_now), ", header says ", hex32(header_crc), ")");
  for (size_t i = L::kHeaderReservedAt; i < L::kHeaderCrcAt; ++i)
    if (p[i]) fail(what, ": header byte ", i, " is reserved and must be 0");

  uint64_t file_size = get_u64(p + L::kFileSizeAt);
  if (file_size > n) fail(what, ": truncated: header says ", file_size, " bytes, file has ", n);
  if (file_size < n) fail(what, ": trailing bytes: header says ", file_size, " bytes, file has ", n, " (", n - file_size, " extra)");

  uint32_t count = get_u32(p + L::kSectionCountAt);
  if (count > limits.max_sections)
    fail(what, ": ", count, " sections, over the limit of ", limits.max_sections, " (LbmLimits::max_sections)");
  uint64_t table_at = get_u64(p + L::kTableOffsetAt);
  uint64_t table_bytes = uint64_t{count} * L::kEntryBytes;  // < 2^38: no overflow
  if (table_at % kLbmAlign) fail(what, ": section table offset ", table_at, " is not a multiple of ", kLbmAlign);
  if (table_at < L::kHeaderBytes) fail(what, ": section table offset ", table_at, " overlaps the header");
  if (table_at > n || table_bytes > n - table_at)
    fail(what, ": section table (", count, " entries at offset ", table_at, ") runs past the end of the ", n, "-byte file");
  const uint8_t* table = p + table_at;
  uint32_t table_crc = get_u32(p + L::kTableCrcAt), table_crc_now = crc32(table, table_bytes);
  if (table_crc != table_crc_now)
    fail(what, ": section table corrupted (CRC-32 ", hex32(table_crc_now), ", header says ", hex32(table_crc), ")");

  // Entries: names, kinds, bounds. `count` was bounded above, so reserving is safe.
  sections.clear();
  sections.reserve(count);
  std::vector<Region> regions;
  regions.reserve(size_t{count} + 2);
  regions.push_back({0, L::kHeaderBytes, "the header"});
  if (table_bytes) regions.push_back({table_at, table_at + table_bytes, "the section table"});
  std::unordered_map<std::string_view, uint32_t> index_of;
  for (uint32_t i = 0; i < count; ++i) {
    const uint8_t* e = table + uint64_t{i} * L::kEntryBytes;
    const auto* name_p = reinterpret_cast<const char*>(e + L::kEntryNameAt);
    size_t len = static_cast<size_t>(std::find(name_p, name_p + L::kNameBytes, '\0') - name_p);
    if (len == L::kNameBytes) fail(what, ": section ", i, ": name is not NUL-terminated within ", L::kNameBytes, " bytes");
    std::string name(name_p, len);
    if (std::string problem = name_problem(name); !problem.empty()) fail(what, ": section ", i, ": ", problem);
    std::string label = cat("section ", i, " '", name, "'");
    for (size_t k = len; k < L::kNameBytes; ++k)
      if (name_p[k]) fail(what, ": ", label, ": bytes after the name's NUL must be 0");
    uint32_t kind = get_u32(e + L::kEntryKindAt);
    if (kind != static_cast<uint32_t>(SectionKind::kJson) && kind != static_cast<uint32_t>(SectionKind::kBlob))
      fail(what, ": ", label, ": unknown kind ", kind, " (known: 1 = json, 2 = blob)");
    uint32_t flags = get_u32(e + L::kEntryFlagsAt);
    if (flags) fail(what, ": ", label, ": flags ", hex32(flags), " set (none are defined in version ", kLbmVersion, ")");
    if (uint32_t r = get_u32(e + L::kEntryReservedAt))
      fail(what, ": ", label, ": reserved field is ", hex32(r), ", must be 0");
    uint64_t offset = get_u64(e + L::kEntryOffsetAt), size = get_u64(e + L::kEntrySizeAt);
    if (offset % kLbmAlign) fail(what, ": ", label, ": data offset ", offset, " is not a multiple of ", kLbmAlign);
    if (offset > n || size > n - offset)
      fail(what, ": ", label, ": data (offset ", offset, ", ", size, " bytes) runs past the end of the ", n, "-byte file");
    if (size) regions.push_back({offset, offset + size, label});
    auto [it, inserted] = index_of.emplace(std::string_view(name_p, len), i);
    if (!inserted) fail(what, ": ", label, ": duplicate name (also section ", it->second, ")");
    sections.push_back({std::move(name), static_cast<SectionKind>(kind), p + offset, size});
  }

  // No byte belongs to two regions; every byte outside them (padding) is zero, so every
  // byte of a valid file is either checksummed or zero.
  std::stable_sort(regions.begin(), regions.end(), [](const Region& a, const Region& b) { return a.begin < b.begin; });
  size_t last = 0;  // the region that reaches furthest so far
  for (size_t r = 1; r < regions.size(); ++r) {
    const Region& prev = regions[last];
    const Region& cur = regions[r];
    if (cur.begin < prev.end)
      fail(what, ": ", cur.label, " [", cur.begin, ", ", cur.end, ") overlaps ", prev.label, " [", prev.begin, ", ",
           prev.end, ")");
    for (uint64_t k = prev.end; k < cur.begin; ++k)
      if (p[k]) fail(what, ": padding byte at offset ", k, " is not 0 (corrupted?)");
    last = r;
  }
  for (uint64_t k = regions[last].end; k < n; ++k)
    if (p[k]) fail(what, ": padding byte at offset ", k, " is not 0 (corrupted?)");

  for (uint32_t i = 0; i < count; ++i) {
    const uint8_t* e = table + uint64_t{i} * L::kEntryBytes;
    const LbmSection& s = sections[i];
    uint32_t crc = get_u32(e + L::kEntryCrcAt), crc_now = crc32(s.data, s.size);
    if (crc != crc_now)
      fail(what, ": section ", i, " '", s.name, "' corrupted (CRC-32 ", hex32(crc_now), ", table says ", hex32(crc), ")");
  }
}

}  // namespace

// ---- writer ----

void LbmWriter::check_new_name(const std::string& name) const {
  if (std::string problem = name_problem(name); !problem.empty())
    fail("lbm writer: section '", name, "': ", problem);
  for (const Pending& s : sections_)
    if (s.name == name) fail("lbm writer: section '", name, "': duplicate name");
  if (sections_.size() >= LbmLimits{}.max_sections)
    fail("lbm writer: section '", name, "': more than ", LbmLimits{}.max_sections, " sections");
}

void LbmWriter::add_json(const std::string& name, const std::string& text) {
  check_new_name(name);
  sections_.push_back({name, SectionKind::kJson, std::vector<uint8_t>(text.begin(), text.end())});
}

void LbmWriter::add_blob(const std::string& name, const void* data, size_t size) {
  check_new_name(name);
  LOWBIT_CHECK(data || size == 0, "lbm writer: section '", name, "': null data with size ", size);
  const auto* b = static_cast<const uint8_t*>(data);
  sections_.push_back({name, SectionKind::kBlob, size ? std::vector<uint8_t>(b, b + size) : std::vector<uint8_t>{}});
}

std::vector<uint8_t> LbmWriter::bytes() const {
  const uint64_t table_at = L::kHeaderBytes;
  const uint64_t table_bytes = sections_.size() * L::kEntryBytes;
  std::vector<uint64_t> offsets(sections_.size());
  uint64_t end = table_at + table_bytes;
  for (size_t i = 0; i < sections_.size(); ++i) {
    offsets[i] = align_up(end);
    end = offsets[i] + sections_[i].data.size();
  }
  std::vector<uint8_t> img(end, 0);
  uint8_t* table = img.data() + table_at;
  for (size_t i = 0; i < sections_.size(); ++i) {
    const Pending& s = sections_[i];
    uint8_t* e = table + i * L::kEntryBytes;
    std::memcpy(e + L::kEntryNameAt, s.name.data(), s.name.size());
    put_u32(e + L::kEntryKindAt, static_cast<uint32_t>(s.kind));
    put_u64(e + L::kEntryOffsetAt, offsets[i]);
    put_u64(e + L::kEntrySizeAt, s.data.size());
    put_u32(e + L::kEntryCrcAt, crc32(s.data.data(), s.data.size()));
    if (!s.data.empty()) std::memcpy(img.data() + offsets[i], s.data.data(), s.data.size());
  }
  uint8_t* h = img.data();
  std::memcpy(h, L::kMagic, sizeof L::kMagic);
  put_u32(h + L::kVersionAt, kLbmVersion);
  put_u32(h + L::kHeaderSizeAt, L::kHeaderBytes);
  put_u64(h + L::kFileSizeAt, end);
  put_u64(h + L::kTableOffsetAt, table_at);
  put_u32(h + L::kSectionCountAt, static_cast<uint32_t>(sections_.size()));
  put_u32(h + L::kTableCrcAt, crc32(table, table_bytes));
  put_u32(h + L::kHeaderCrcAt, crc32(h, L::kHeaderCrcAt));
  return img;
}

void LbmWriter::write(const std::string& path) const { write_file_atomic(path, bytes()); }

// ---- reader ----

LbmFile LbmFile::parse(const uint8_t* bytes, size_t size, const std::string& what, const LbmLimits& limits) {
  LOWBIT_CHECK(bytes || size == 0, what, ": null buffer with size ", size);
  static const uint8_t kNone = 0;
  if (!bytes) bytes = &kNone;
  LbmFile f;
  f.source_ = what;
  validate(bytes, size, what, limits, f.version_, f.sections_);
  // Valid: copy into aligned storage and point the sections at the copy.
  f.storage_ = alloc_aligned(size);
  std::memcpy(f.storage_.get(), bytes, size);
  for (LbmSection& s : f.sections_) s.data = f.storage_.get() + (s.data - bytes);
  return f;
}

LbmFile LbmFile::read(const std::string& path, const LbmLimits& limits) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, ": cannot open (", std::strerror(errno), ")");
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail(path, ": cannot stat (", std::strerror(errno), ")");
  if (S_ISDIR(st.st_mode)) fail(path, ": is a folder, not a file");
  if (!S_ISREG(st.st_mode)) fail(path, ": not a regular file");
  uint64_t n = static_cast<uint64_t>(st.st_size);
  if (n > limits.max_file_bytes)
    fail(path, ": too large: ", n, " bytes, over the limit of ", limits.max_file_bytes, " (LbmLimits::max_file_bytes)");
  LOWBIT_CHECK(n <= SIZE_MAX, path, ": too large for this machine's address space (", n, " bytes)");
  LbmFile f;
  f.source_ = path;
  f.storage_ = alloc_aligned(static_cast<size_t>(n));
  uint8_t* dst = f.storage_.get();
  uint64_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd, dst + got, static_cast<size_t>(std::min<uint64_t>(n - got, 1u << 30)));
    if (r < 0) {
      if (errno == EINTR) continue;
      fail(path, ": read error (", std::strerror(errno), ")");
    }
    if (r == 0) fail(path, ": file shrank while being read (", got, " of ", n, " bytes)");
    got += static_cast<uint64_t>(r);
  }
  validate(dst, n, path, limits, f.version_, f.sections_);
  return f;
}

const LbmSection* LbmFile::find(std::string_view name) const {
  for (const LbmSection& s : sections_)
    if (s.name == name) return &s;
  return nullptr;
}

const LbmSection& LbmFile::get(std::string_view name, SectionKind kind) const {
  const LbmSection* s = find(name);
  if (!s) fail(source_, ": no section '", name, "'");
  if (s->kind != kind)
    fail(source_, ": section '", name, "' is ", kind_name(s->kind), ", expected ", kind_name(kind));
  return *s;
}

std::string LbmFile::json_text(std::string_view name) const {
  const LbmSection& s = get(name, SectionKind::kJson);
  return std::string(reinterpret_cast<const char*>(s.data), static_cast<size_t>(s.size));
}

}  // namespace lowbit::format
