// Image files: PNG, JPEG, binary PGM/PPM (Netpbm P5/P6) and BMP, told apart by their
// content (not their name) and decoded by stb_image (Debian's libstb-dev), for
// `lowbit predict` and folder-per-class datasets (image_folder.hpp). docs/DATA.md,
// "Image files", states the rules below for users.
//
// An Image holds 8-bit pixels in the dataset's layout, CHW: channel-major (all of channel 0,
// then channel 1, ...), rows top to bottom, pixels left to right; stb_image's interleaved
// HWC result is transposed. Decoding keeps 1 (grey) or 3 (RGB) channels:
//   - an alpha channel is dropped (grey+alpha -> grey, RGBA -> RGB): the colour stored under
//     a transparent pixel is what the model sees, as PIL's convert("L") / convert("RGB")
//     also ignore alpha;
//   - 16-bit PNG samples keep their high byte (stb_image's 16 -> 8 bit rule);
//   - a PGM/PPM whose maxval is not 255 is scaled to 0..255 (Netpbm: maxval is full
//     intensity): p = (min(v, maxval) * 255 + maxval / 2) / maxval, integer; 16-bit ones
//     (maxval > 255, samples big-endian) are read by lowbit itself, as stb_image 2.27 reads
//     their samples in the machine's byte order.
// A palette PNG decodes to RGB. Errors are lowbit::Error naming the file and stb_image's
// reason (stbi_failure_reason).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace lowbit::data {

// At most this many pixels (height x width) per image, checked from the header before any
// pixel memory is allocated (a 6000x4000 photo is 24 M; a larger header is most likely
// corrupt or hostile).
inline constexpr int64_t kMaxImagePixels = int64_t(1) << 25;
// At most this many bytes per image file.
inline constexpr int64_t kMaxImageFileBytes = int64_t(1) << 30;

struct Image {
  int channels = 0, height = 0, width = 0;  // channels: 1 (grey) or 3 (RGB)
  std::vector<uint8_t> pixels;              // channels * height * width, CHW

  int64_t size() const { return static_cast<int64_t>(channels) * height * width; }
};

// What the header says, before decoding: the channels decoding will give (1 or 3: alpha
// not counted) and the size in pixels. Throws (naming `what`) when stb_image does not
// recognise the format, or for a size of 0 or above kMaxImagePixels.
struct ImageHeader {
  int channels = 0, height = 0, width = 0;
};
ImageHeader image_header(const std::vector<uint8_t>& bytes, const std::string& what);

// Decodes a file's bytes (`what` names it in errors: unknown format, corrupt or truncated
// data, the size limits above).
Image decode_image(const std::vector<uint8_t>& bytes, const std::string& what);

// The whole file (core/file_io.hpp's read_file: missing, a folder, unreadable), then
// decode_image. Files above kMaxImageFileBytes are refused before they are read.
std::vector<uint8_t> read_image_bytes(const std::string& path);
Image read_image(const std::string& path);

// The image with `channels` channels (1 or 3, else lowbit::Error):
//   grey -> RGB: the grey plane copied into R, G and B (PIL's convert("RGB"));
//   RGB -> grey: ITU-R BT.601 luma, L = R*299/1000 + G*587/1000 + B*114/1000 (PIL's
//     documented convert("L")), computed as PIL's libImaging/Convert.c computes it, in
//     16-bit fixed point with rounding: L = (R*19595 + G*38470 + B*7471 + 32768) >> 16,
//     so grey images equal PIL's (and torchvision's Grayscale on PIL images) pixel for pixel.
// The same channel count returns the image unchanged.
Image convert_channels(const Image& img, int channels);

// The image centred in height x width (each >= the image's), padding with pixel 0: top
// rows (height - h) / 2, left columns (width - w) / 2, an odd extra row/column at the
// bottom/right (format::centre_offset, the rule of data::make_batch and the runtime).
// Smaller target sizes throw.
Image centre_pad(const Image& img, int height, int width);

// Whether a file name ends with an image extension lowbit lists: .png .jpg .jpeg .pgm .ppm
// .pnm .bmp, in any case.
bool has_image_extension(const std::string& filename);

// The image files directly in `dir` (not in its subfolders): regular files (or links to
// them) with an image extension whose name does not start with '.', sorted by name (byte
// order). Throws naming `dir` when it cannot be read; an empty result is not an error.
std::vector<std::string> list_image_files(const std::string& dir);

// The image files that `lowbit predict`'s arguments name, in order: a file as given
// (whatever its name: decoding goes by content), a folder as list_image_files(folder).
// Throws naming the argument when it does not exist or is a folder without image files.
std::vector<std::string> expand_image_paths(const std::vector<std::string>& paths);

}  // namespace lowbit::data
