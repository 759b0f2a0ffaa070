// The deployment model file (.lbm): a small container of named, checksummed, 64-byte
// aligned sections, shared by the exporter (writes) and the runtime (reads). Byte layout:
// docs/FORMAT.md, section "Model file (.lbm)".
//
// The container knows nothing about networks: export/ and runtime/ agree on the section
// names and the JSON schema of the "model" section (docs/FORMAT.md).
//
//   LbmWriter w;
//   w.add_json("model", topology_json);
//   w.add_blob("dense_1.weight", packed.data(), packed.size());
//   w.write("lfc.lbm");
//   auto f = LbmFile::read("lfc.lbm");
//   const LbmSection& s = f.get("dense_1.weight", SectionKind::kBlob);  // s.data 64-byte aligned
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace lowbit::format {

inline constexpr uint32_t kLbmVersion = 1;
inline constexpr size_t kLbmAlign = 64;  // alignment of every section's data, in the file and in memory

enum class SectionKind : uint32_t { kJson = 1, kBlob = 2 };

// A section of a file that has been read: `data` points into the LbmFile's own storage
// (64-byte aligned) and lives as long as the LbmFile (or any copy of it).
struct LbmSection {
  std::string name;
  SectionKind kind = SectionKind::kBlob;
  const uint8_t* data = nullptr;
  uint64_t size = 0;
};

// Bounds a reader enforces before it allocates or trusts anything a header says.
struct LbmLimits {
  uint64_t max_file_bytes = uint64_t{1} << 32;  // 4 GiB
  uint32_t max_sections = 65536;
};

class LbmWriter {
 public:
  // Names: 1..31 bytes of [A-Za-z0-9_.:/-], unique within a file (lowbit::Error otherwise).
  // The text of a JSON section is stored as given (UTF-8, no terminating NUL).
  void add_json(const std::string& name, const std::string& text);
  void add_blob(const std::string& name, const void* data, size_t size);
  // The whole file image.
  std::vector<uint8_t> bytes() const;
  // Writes atomically (temp file + rename); the error names the path.
  void write(const std::string& path) const;

 private:
  void check_new_name(const std::string& name) const;
  struct Pending {
    std::string name;
    SectionKind kind;
    std::vector<uint8_t> data;
  };
  std::vector<Pending> sections_;
};

class LbmFile {
 public:
  // Reads and validates a whole file: magic, version, sizes, section bounds and alignment,
  // CRC-32 of the header, the table and every section. Throws lowbit::Error naming the path
  // and what is wrong (truncated, corrupted, oversized, unknown version...). The file's size
  // is checked against `limits` before anything is read.
  static LbmFile read(const std::string& path, const LbmLimits& limits = {});
  // The same on a file image in memory (validated in place, then copied); `what` names it
  // in errors.
  static LbmFile parse(const uint8_t* bytes, size_t size, const std::string& what = "<memory>",
                       const LbmLimits& limits = {});

  uint32_t version() const { return version_; }
  const std::vector<LbmSection>& sections() const { return sections_; }  // in table order
  const LbmSection* find(std::string_view name) const;  // nullptr if absent
  // Throws lowbit::Error naming the file and the section when absent or of another kind.
  const LbmSection& get(std::string_view name, SectionKind kind) const;
  // The text of a JSON section (get(name, kJson) as a string).
  std::string json_text(std::string_view name) const;
  const std::string& source() const { return source_; }

 private:
  std::string source_;
  uint32_t version_ = 0;
  std::shared_ptr<uint8_t> storage_;  // 64-byte aligned copy of the file
  std::vector<LbmSection> sections_;
};

// Where each field lies (byte offsets; docs/FORMAT.md has the table). For tools, tests and
// fuzzers that inspect or patch a file image; readers and writers use LbmFile/LbmWriter.
namespace lbm_layout {
inline constexpr char kMagic[8] = {'\x89', 'L', 'B', 'M', '\r', '\n', '\x1a', '\n'};
inline constexpr size_t kHeaderBytes = 64;
inline constexpr size_t kEntryBytes = 64;  // one section-table entry
inline constexpr size_t kNameBytes = 32;   // NUL-padded name field of an entry
// File header.
inline constexpr size_t kVersionAt = 8;         // u32
inline constexpr size_t kHeaderSizeAt = 12;     // u32, 64
inline constexpr size_t kFileSizeAt = 16;       // u64
inline constexpr size_t kTableOffsetAt = 24;    // u64
inline constexpr size_t kSectionCountAt = 32;   // u32
inline constexpr size_t kTableCrcAt = 36;       // u32
inline constexpr size_t kHeaderReservedAt = 40; // 20 zero bytes
inline constexpr size_t kHeaderCrcAt = 60;      // u32, CRC-32 of bytes [0, 60)
// Section-table entry (offsets within the entry).
inline constexpr size_t kEntryNameAt = 0;
inline constexpr size_t kEntryKindAt = 32;      // u32
inline constexpr size_t kEntryFlagsAt = 36;     // u32, 0
inline constexpr size_t kEntryOffsetAt = 40;    // u64
inline constexpr size_t kEntrySizeAt = 48;      // u64
inline constexpr size_t kEntryCrcAt = 56;       // u32, CRC-32 of the data
inline constexpr size_t kEntryReservedAt = 60;  // 4 zero bytes
}  // namespace lbm_layout

}  // namespace lowbit::format
