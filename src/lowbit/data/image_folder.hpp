// Folder-per-class image datasets, the layout of torchvision's ImageFolder with one folder
// per split:
//
//   DIR/train/<class>/<image files>      DIR/test/<class>/<image files>
//
// Rules (docs/DATA.md, "Folder per class"):
//   - classes are the subfolders of DIR/train, sorted by name (byte order, as ImageFolder's
//     sorted()); class k's images get label k. DIR/test must have the same class folders.
//   - a class folder's images are its image files (image_file.hpp: .png .jpg .jpeg .pgm .ppm
//     .pnm .bmp, any case), in its subfolders too, in order of their path (byte order);
//     names starting with '.' are skipped, files of other extensions ignored (as ImageFolder).
//   - channels: 1 when every image of both splits is grey, else 3 (grey images copied to
//     R, G, B; alpha dropped: image_file.hpp's convert_channels);
//   - size: the largest height and the largest width over both splits; smaller images are
//     centre-padded with pixel 0 (image_file.hpp's centre_pad, the rule of make_batch and
//     the runtime), so train and test have one shape. Nothing is resized or cropped.
// Errors (lowbit::Error naming the folder or file): DIR/train without class folders, a class
// folder without images, an image file directly in DIR/train or DIR/test (outside a class
// folder), a class in one split and not the other, an image that does not decode, padded
// images of a split above kMaxDataFileBytes (data_file.hpp).
#pragma once
#include <string>
#include <vector>

#include "lowbit/data/dataset.hpp"

namespace lowbit::data {

// Whether DIR holds the folders train/ and test/ (the layout above; load_image_folder says
// what else is wrong).
bool is_image_folder_dataset(const std::string& dir);

// The class names: the subfolders of DIR/train, sorted as above.
std::vector<std::string> image_folder_classes(const std::string& dir);

// Both splits, named `name`/train and `name`/test, with class_names filled.
DataSplit load_image_folder(const std::string& dir, const std::string& name);

}  // namespace lowbit::data
