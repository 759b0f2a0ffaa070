#include "lowbit/data/image_file.hpp"

#include <stb/stb_image.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "lowbit/core/error.hpp"
#include "lowbit/core/file_io.hpp"
#include "lowbit/format/semantics.hpp"

namespace lowbit::data {

namespace fs = std::filesystem;

namespace {

enum class Format { kPng, kJpeg, kPnm, kBmp };

const char* const kFormatsRead = "PNG, JPEG, binary PGM/PPM (P5/P6) or BMP";

// The format by its first bytes (stb_image would also try TGA, whose test accepts almost
// any bytes; only the formats named above are taken).
Format sniff(const std::vector<uint8_t>& b, const std::string& what) {
  const auto starts = [&](std::initializer_list<uint8_t> magic) {
    return b.size() >= magic.size() && std::equal(magic.begin(), magic.end(), b.begin());
  };
  if (starts({0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'})) return Format::kPng;
  if (starts({0xff, 0xd8, 0xff})) return Format::kJpeg;
  if (starts({'B', 'M'})) return Format::kBmp;
  if (b.size() >= 2 && b[0] == 'P') {
    if (b[1] == '5' || b[1] == '6') return Format::kPnm;
    if (b[1] >= '1' && b[1] <= '4')
      fail(what, ": a Netpbm P", static_cast<char>(b[1]), " file (", b[1] <= '3' ? "ASCII" : "bitmap",
           "); lowbit reads binary PGM/PPM (P5/P6): convert it, e.g. with ImageMagick: `convert in.pgm out.png`");
  }
  std::string head;
  char hex[4];
  for (size_t i = 0; i < std::min<size_t>(b.size(), 8); ++i) {
    std::snprintf(hex, sizeof hex, " %02x", b[i]);
    head += hex;
  }
  fail(what, ": not a ", kFormatsRead, " image (", b.empty() ? std::string("empty file") : cat("first bytes", head), ")");
}

// A binary PGM/PPM header: "P5|P6 <width> <height> <maxval>", whitespace and '#' comments
// between the fields, one whitespace byte before the raster (Netpbm's pgm(5), ppm(5)).
struct PnmHeader {
  int channels = 0, maxval = 0;
  int64_t width = 0, height = 0;
  size_t raster = 0;  // offset of the first sample
};

// false when the header does not parse (stb_image then says why).
bool parse_pnm(const std::vector<uint8_t>& b, PnmHeader& h) {
  if (b.size() < 2 || b[0] != 'P' || (b[1] != '5' && b[1] != '6')) return false;
  h.channels = b[1] == '5' ? 1 : 3;
  size_t i = 2;
  int64_t fields[3] = {0, 0, 0};
  for (int64_t& v : fields) {
    while (i < b.size() && (std::isspace(b[i]) || b[i] == '#')) {
      if (b[i] == '#')
        while (i < b.size() && b[i] != '\n' && b[i] != '\r') ++i;
      else
        ++i;
    }
    if (i >= b.size() || !std::isdigit(b[i])) return false;
    while (i < b.size() && std::isdigit(b[i]) && v < (int64_t(1) << 32)) v = v * 10 + (b[i++] - '0');
  }
  if (i >= b.size() || !std::isspace(b[i]) || fields[2] < 1 || fields[2] > 65535) return false;
  h.width = fields[0];
  h.height = fields[1];
  h.maxval = static_cast<int>(fields[2]);
  h.raster = i + 1;
  return true;
}

// v (at most maxval, else clamped) on 0..255: (v * 255 + maxval / 2) / maxval.
uint8_t scale_to_byte(uint32_t v, uint32_t maxval) {
  return static_cast<uint8_t>((std::min(v, maxval) * 255u + maxval / 2) / maxval);
}

// A 16-bit PGM/PPM raster (maxval > 255), read here: Netpbm stores samples big-endian, and
// stb_image 2.27 (Debian 12) returns them in the machine's byte order (tested:
// ImageFile.PgmAndPpmWrittenByHand).
Image decode_pnm16(const std::vector<uint8_t>& b, const PnmHeader& h, const std::string& what) {
  const auto plane = static_cast<size_t>(h.width * h.height);
  const size_t need = plane * static_cast<size_t>(h.channels) * 2;
  LOWBIT_CHECK(b.size() - h.raster >= need, what, ": truncated: the header says ", h.width, "x", h.height, "x",
               h.channels, " 16-bit samples (", need, " bytes) but ", b.size() - h.raster, " bytes follow");
  Image img;
  img.channels = h.channels;
  img.height = static_cast<int>(h.height);
  img.width = static_cast<int>(h.width);
  img.pixels.resize(plane * static_cast<size_t>(h.channels));
  const uint8_t* raster = b.data() + h.raster;
  for (size_t c = 0; c < static_cast<size_t>(h.channels); ++c)
    for (size_t i = 0; i < plane; ++i) {
      const uint8_t* s = raster + 2 * (i * static_cast<size_t>(h.channels) + c);
      img.pixels[c * plane + i] = scale_to_byte(static_cast<uint32_t>(s[0] << 8 | s[1]), static_cast<uint32_t>(h.maxval));
    }
  return img;
}

// stb_image's last failure, for messages.
std::string stb_reason() {
  const char* r = stbi_failure_reason();
  // An unknown PNG chunk of type 0 (a file cut short) gives an empty reason.
  return r && *r ? r : "no reason given; a truncated or corrupt file?";
}

struct StbFree {
  void operator()(void* p) const { stbi_image_free(p); }
};

int checked_length(const std::vector<uint8_t>& bytes, const std::string& what) {
  LOWBIT_CHECK(bytes.size() <= static_cast<size_t>(kMaxImageFileBytes), what, ": ", bytes.size(),
               " bytes is larger than the ", kMaxImageFileBytes, "-byte limit for an image file");
  static_assert(kMaxImageFileBytes <= INT_MAX, "stb_image takes an int length");
  return static_cast<int>(bytes.size());
}

}  // namespace

ImageHeader image_header(const std::vector<uint8_t>& bytes, const std::string& what) {
  sniff(bytes, what);
  const int len = checked_length(bytes, what);
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(bytes.data(), len, &w, &h, &comp))
    fail(what, ": cannot read the image header (stb_image: ", stb_reason(), ")");
  LOWBIT_CHECK(w >= 1 && h >= 1 && comp >= 1 && comp <= 4, what, ": invalid image header (", w, "x", h, ", ", comp,
               " channels)");
  LOWBIT_CHECK(static_cast<int64_t>(w) * h <= kMaxImagePixels, what, ": ", w, "x", h, " pixels (width x height) is more than the limit of ",
               kMaxImagePixels, " pixels per image (a corrupt header?)");
  return {comp >= 3 ? 3 : 1, h, w};
}

Image decode_image(const std::vector<uint8_t>& bytes, const std::string& what) {
  const ImageHeader head = image_header(bytes, what);
  const int len = checked_length(bytes, what);
  // A PGM/PPM with a maxval other than 255 is scaled below; 16-bit ones are read here.
  PnmHeader pnm;
  const bool is_pnm = sniff(bytes, what) == Format::kPnm && parse_pnm(bytes, pnm);
  if (is_pnm && pnm.maxval > 255) {
    LOWBIT_CHECK(pnm.width == head.width && pnm.height == head.height, what, ": unreadable PGM/PPM header");
    return decode_pnm16(bytes, pnm, what);
  }
  const uint32_t maxval = is_pnm ? static_cast<uint32_t>(pnm.maxval) : 255u;
  int w = 0, h = 0, comp = 0;
  std::unique_ptr<uint8_t, StbFree> data(stbi_load_from_memory(bytes.data(), len, &w, &h, &comp, 0));
  if (!data) fail(what, ": cannot decode the image (stb_image: ", stb_reason(), ")");
  LOWBIT_CHECK(w == head.width && h == head.height && comp >= 1 && comp <= 4, what, ": decoded ", w, "x", h, "x", comp,
               " but the header says ", head.width, "x", head.height, " (corrupt file?)");
  Image img;
  img.channels = comp >= 3 ? 3 : 1;  // alpha (the 2nd of grey+alpha, the 4th of RGBA) dropped
  img.height = h;
  img.width = w;
  img.pixels.resize(static_cast<size_t>(img.size()));
  const uint8_t* hwc = data.get();
  const int64_t plane = static_cast<int64_t>(h) * w;
  for (int c = 0; c < img.channels; ++c)
    for (int64_t i = 0; i < plane; ++i) {  // HWC (interleaved) -> CHW
      const uint8_t v = hwc[i * comp + c];
      img.pixels[static_cast<size_t>(c * plane + i)] = maxval == 255 ? v : scale_to_byte(v, maxval);
    }
  return img;
}

std::vector<uint8_t> read_image_bytes(const std::string& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);  // an error here: read_file names it
  if (!ec && size > static_cast<uintmax_t>(kMaxImageFileBytes))
    fail(path, ": ", size, " bytes is larger than the ", kMaxImageFileBytes, "-byte limit for an image file");
  return read_file(path);
}

Image read_image(const std::string& path) { return decode_image(read_image_bytes(path), path); }

Image convert_channels(const Image& img, int channels) {
  LOWBIT_CHECK(channels == 1 || channels == 3, "image files convert to 1 (grey) or 3 (RGB) channels, not ", channels);
  LOWBIT_CHECK(img.channels == 1 || img.channels == 3, "convert_channels: an image of ", img.channels, " channels");
  if (img.channels == channels) return img;
  Image out;
  out.channels = channels;
  out.height = img.height;
  out.width = img.width;
  const auto plane = static_cast<size_t>(img.height) * static_cast<size_t>(img.width);
  out.pixels.resize(plane * static_cast<size_t>(channels));
  if (channels == 3) {  // grey -> RGB: copies
    for (size_t c = 0; c < 3; ++c) std::copy(img.pixels.begin(), img.pixels.end(), out.pixels.begin() + static_cast<std::ptrdiff_t>(c * plane));
    return out;
  }
  const uint8_t *r = img.pixels.data(), *g = r + plane, *b = g + plane;
  for (size_t i = 0; i < plane; ++i)  // PIL's rgb2l (libImaging/Convert.c, L24)
    out.pixels[i] = static_cast<uint8_t>((r[i] * 19595u + g[i] * 38470u + b[i] * 7471u + 0x8000u) >> 16);
  return out;
}

Image centre_pad(const Image& img, int height, int width) {
  LOWBIT_CHECK(height >= img.height && width >= img.width, "centre_pad: ", img.height, "x", img.width,
               " does not fit in ", height, "x", width);
  if (height == img.height && width == img.width) return img;
  Image out;
  out.channels = img.channels;
  out.height = height;
  out.width = width;
  out.pixels.assign(static_cast<size_t>(out.size()), 0);
  const auto top = static_cast<int>(format::centre_offset(height, img.height));
  const auto left = static_cast<int>(format::centre_offset(width, img.width));
  for (int c = 0; c < img.channels; ++c)
    for (int y = 0; y < img.height; ++y) {
      const uint8_t* src = img.pixels.data() + (static_cast<size_t>(c) * img.height + y) * img.width;
      uint8_t* dst = out.pixels.data() + (static_cast<size_t>(c) * height + top + y) * width + left;
      std::copy(src, src + img.width, dst);
    }
  return out;
}

bool has_image_extension(const std::string& filename) {
  std::string ext = fs::path(filename).extension().string();
  for (char& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (const char* e : {".png", ".jpg", ".jpeg", ".pgm", ".ppm", ".pnm", ".bmp"})
    if (ext == e) return true;
  return false;
}

std::vector<std::string> list_image_files(const std::string& dir) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) fail(dir, ": cannot list the folder (", ec.message(), ")");
  std::vector<std::string> files;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) fail(dir, ": cannot list the folder (", ec.message(), ")");
    const std::string name = it->path().filename().string();
    std::error_code ec2;
    if (!name.empty() && name[0] != '.' && has_image_extension(name) && fs::is_regular_file(it->path(), ec2))
      files.push_back(it->path().string());
  }
  if (ec) fail(dir, ": cannot list the folder (", ec.message(), ")");
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<std::string> expand_image_paths(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const std::string& p : paths) {
    std::error_code ec;
    const fs::file_status st = fs::status(p, ec);
    if (!fs::exists(st)) fail(p, ": no such file or folder");
    if (!fs::is_directory(st)) {
      files.push_back(p);
      continue;
    }
    std::vector<std::string> in = list_image_files(p);
    if (in.empty()) fail(p, ": no image files in this folder (.png .jpg .jpeg .pgm .ppm .pnm .bmp; subfolders are not searched)");
    files.insert(files.end(), in.begin(), in.end());
  }
  return files;
}

}  // namespace lowbit::data
