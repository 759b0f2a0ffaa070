#include "lowbit/format/huffman.hpp"

#include <algorithm>
#include <numeric>

namespace lowbit::format {

namespace {

// An item of a package-merge list: a leaf (one symbol) or a package (two items of the list
// one level deeper).
struct Item {
  uint64_t weight;
  int32_t symbol;  // -1 for a package
};

void check_max_length(int max_length) {
  LOWBIT_CHECK(max_length >= 1 && max_length <= kHuffmanMaxLengthLimit, "Huffman code: maximum length ", max_length,
               " outside 1..", kHuffmanMaxLengthLimit);
}

}  // namespace

std::vector<uint8_t> huffman_code_lengths(const std::vector<uint64_t>& freq, int max_length) {
  check_max_length(max_length);
  std::vector<uint8_t> lengths(freq.size(), 0);
  std::vector<Item> leaves;
  for (size_t k = 0; k < freq.size(); ++k)
    if (freq[k]) leaves.push_back({freq[k], static_cast<int32_t>(k)});
  const size_t n = leaves.size();
  if (n == 0) return lengths;
  if (n == 1) {
    lengths[static_cast<size_t>(leaves[0].symbol)] = 1;
    return lengths;
  }
  LOWBIT_CHECK(n <= (size_t{1} << max_length), "Huffman code: ", n, " symbols do not fit codes of at most ",
               max_length, " bits");
  std::stable_sort(leaves.begin(), leaves.end(), [](const Item& a, const Item& b) { return a.weight < b.weight; });

  // lists[d - 1]: the list of depth d. The deepest (max_length) holds the leaves; each
  // shallower one merges the leaves with the packages of adjacent pairs of the one below.
  std::vector<std::vector<Item>> lists(static_cast<size_t>(max_length));
  lists.back() = leaves;
  for (int d = max_length - 1; d >= 1; --d) {
    const std::vector<Item>& below = lists[static_cast<size_t>(d)];
    std::vector<Item> packages;
    packages.reserve(below.size() / 2);
    for (size_t i = 0; i + 1 < below.size(); i += 2) packages.push_back({below[i].weight + below[i + 1].weight, -1});
    std::vector<Item>& list = lists[static_cast<size_t>(d - 1)];
    list.resize(leaves.size() + packages.size());
    // Leaves before packages of equal weight: any order of ties gives an optimal code; a
    // fixed one makes the code a function of the frequencies alone.
    std::merge(leaves.begin(), leaves.end(), packages.begin(), packages.end(), list.begin(),
               [](const Item& a, const Item& b) { return a.weight < b.weight; });
  }
  // The 2n - 2 cheapest items of depth 1 are the code: each leaf met adds 1 to its symbol's
  // length, each package taken at depth d stands for the next two items of depth d + 1 (the
  // first k packages of a list are made of the first 2k items below it).
  size_t take = 2 * n - 2;
  for (int d = 1; d <= max_length && take; ++d) {
    const std::vector<Item>& list = lists[static_cast<size_t>(d - 1)];
    LOWBIT_CHECK(take <= list.size(), "Huffman code: package-merge list of depth ", d, " too short (internal)");
    size_t packages = 0;
    for (size_t i = 0; i < take; ++i) {
      if (list[i].symbol >= 0)
        ++lengths[static_cast<size_t>(list[i].symbol)];
      else
        ++packages;
    }
    take = 2 * packages;
  }
  return lengths;
}

std::vector<uint32_t> canonical_codes(const std::vector<uint8_t>& lengths) {
  std::array<uint32_t, kHuffmanMaxLengthLimit + 2> count{}, next{};
  for (uint8_t l : lengths) {
    LOWBIT_CHECK(l <= kHuffmanMaxLengthLimit, "Huffman code: length ", int(l), " over ", kHuffmanMaxLengthLimit);
    ++count[l];
  }
  count[0] = 0;
  uint32_t code = 0;
  for (int l = 1; l <= kHuffmanMaxLengthLimit; ++l) {
    code = (code + count[static_cast<size_t>(l - 1)]) << 1;
    next[static_cast<size_t>(l)] = code;
  }
  std::vector<uint32_t> codes(lengths.size(), 0);
  for (size_t k = 0; k < lengths.size(); ++k)
    if (lengths[k]) codes[k] = next[lengths[k]]++;
  return codes;
}

CanonicalDecoder::CanonicalDecoder(const std::vector<uint8_t>& lengths, int max_length, std::string what)
    : max_length_(max_length), what_(std::move(what)) {
  check_max_length(max_length);
  for (size_t k = 0; k < lengths.size(); ++k) {
    LOWBIT_CHECK(lengths[k] <= max_length, what_, ": code length ", int(lengths[k]), " of symbol ", k, " exceeds ",
                 max_length);
    ++count_[lengths[k]];
  }
  count_[0] = 0;
  // Kraft: `left` counts the codes of the current length still unassigned.
  int64_t left = 1;
  for (int l = 1; l <= max_length; ++l) {
    left = 2 * left - count_[static_cast<size_t>(l)];
    LOWBIT_CHECK(left >= 0, what_, ": over-subscribed code lengths (more codes of ", l, " bits than fit)");
  }
  const uint32_t used = std::accumulate(count_.begin(), count_.end(), uint32_t{0});
  const bool single = used == 1 && count_[1] == 1;
  LOWBIT_CHECK(left == 0 || used == 0 || single, what_, ": incomplete code lengths (", left, " codes of ", max_length,
               " bits unassigned)");
  symbols_.reserve(used);
  for (int l = 1; l <= max_length; ++l)
    for (size_t k = 0; k < lengths.size(); ++k)
      if (lengths[k] == l) symbols_.push_back(static_cast<int32_t>(k));
}

int CanonicalDecoder::decode(BitReader& r) const {
  // Canonical codes of length l are the integers first .. first + count[l] - 1, after the
  // `index` symbols of shorter codes (puff.c's decode()).
  uint32_t code = 0, first = 0, index = 0;
  for (int l = 1; l <= max_length_; ++l) {
    code |= r.bit();
    const uint32_t count = count_[static_cast<size_t>(l)];
    if (code - first < count) return symbols_[index + (code - first)];
    index += count;
    first = (first + count) << 1;
    code <<= 1;
  }
  fail(what_, ": invalid Huffman code at bit ", r.position(), " (no symbol has it)");
}

}  // namespace lowbit::format
