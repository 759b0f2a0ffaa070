// Reading back the images `lowbit plot` writes (train/learning_curves.hpp). PNG: the
// signature, IHDR's size, the closing IEND chunk. SVG (gnuplot's svg terminal):
// well-formedness, and each plot element's group (<g id="gnuplot_plot_<n><panel>">, panel 'a'
// the first panel, 'b' the second...) with its paths: stroke colour, dashed or not, and the
// points of the last subpath. With an opaque legend gnuplot draws a key panel's elements
// twice, the curves and then the legend over its box, in two groups of one id: they are merged.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cli/cli_util.hpp"
#include "lowbit/core/error.hpp"

namespace lowbit::testing {

struct SvgPath {
  std::string stroke;  // e.g. "rgb( 31, 119, 180)"
  bool dashed = false;
  std::vector<std::pair<double, double>> points;  // pixels, of the last subpath
};

struct SvgPlotGroup {
  std::string id;
  std::string text;  // the group's own SVG text
  std::vector<SvgPath> paths;
  // The path with the most points (the curve, not its legend sample); an empty one if none.
  SvgPath curve() const {
    SvgPath best;
    for (const SvgPath& p : paths)
      if (p.points.size() > best.points.size()) best = p;
    return best;
  }
};

// The attribute value after `name='` or `name="` inside `tag`; "" when absent.
inline std::string svg_attribute(const std::string& tag, const std::string& name) {
  for (const char q : {'\'', '"'}) {
    const std::string key = cat(" ", name, "=", q);
    const size_t at = tag.find(key);
    if (at != std::string::npos) {
      const size_t from = at + key.size();
      return tag.substr(from, tag.find(q, from) - from);
    }
  }
  return "";
}

// "M1,2 L3,4 M5,6 L7,8" -> {(5,6), (7,8)}.
inline std::vector<std::pair<double, double>> last_subpath(const std::string& d) {
  std::vector<std::pair<double, double>> pts;
  size_t i = 0;
  while (i < d.size()) {
    const char c = d[i];
    if (c != 'M' && c != 'L') {
      ++i;
      continue;
    }
    if (c == 'M') pts.clear();
    char* end = nullptr;
    const double x = std::strtod(d.c_str() + i + 1, &end);
    const double y = std::strtod(end + 1, &end);  // past the comma
    pts.emplace_back(x, y);
    i = static_cast<size_t>(end - d.c_str());
  }
  return pts;
}

// Every gnuplot_plot group, keyed by panel letter, in document order.
inline std::map<char, std::vector<SvgPlotGroup>> svg_plot_groups(const std::string& svg) {
  std::map<char, std::vector<SvgPlotGroup>> panels;
  const std::string open = "<g id=\"gnuplot_plot_";
  for (size_t at = svg.find(open); at != std::string::npos; at = svg.find(open, at + 1)) {
    // The group ends where its <g> nesting closes.
    size_t pos = at + 1, depth = 1;
    while (depth > 0 && pos < svg.size()) {
      const size_t g = svg.find("<g", pos), close = svg.find("</g>", pos);
      if (close == std::string::npos) break;
      if (g != std::string::npos && g < close && (svg[g + 2] == ' ' || svg[g + 2] == '>')) {
        ++depth;
        pos = g + 2;
      } else {
        --depth;
        pos = close + 4;
      }
    }
    SvgPlotGroup group;
    group.text = svg.substr(at, pos - at);
    group.id = svg_attribute(group.text.substr(0, group.text.find('>')), "id");
    for (size_t p = group.text.find("<path"); p != std::string::npos; p = group.text.find("<path", p + 1)) {
      const std::string tag = group.text.substr(p, group.text.find("/>", p) - p);
      group.paths.push_back({svg_attribute(tag, "stroke"), !svg_attribute(tag, "stroke-dasharray").empty(),
                             last_subpath(svg_attribute(tag, "d"))});
    }
    std::vector<SvgPlotGroup>& panel = panels[group.id.back()];
    auto same = std::find_if(panel.begin(), panel.end(), [&](const SvgPlotGroup& g) { return g.id == group.id; });
    if (same == panel.end()) {
      panel.push_back(std::move(group));
    } else {
      same->text += group.text;
      same->paths.insert(same->paths.end(), group.paths.begin(), group.paths.end());
    }
  }
  return panels;
}

// "" when `path` is well-formed XML (parsed by /usr/bin/python3's ElementTree when it is
// there; else a structural check: the XML declaration, a closing </svg>, balanced groups),
// else what is wrong.
inline std::string svg_problem(const std::string& path, const std::string& svg) {
  if (std::filesystem::exists("/usr/bin/python3")) {
    std::string quoted = "'";
    for (char c : path) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    const CommandResult r =
        run_command(cat("/usr/bin/python3 -c 'import xml.etree.ElementTree as E,sys; E.parse(sys.argv[1])' ", quoted, "'"));
    return r.code == 0 ? "" : cat("python3's XML parser: ", r.out);
  }
  if (svg.rfind("<?xml", 0) != 0) return "no XML declaration";
  if (svg.find("</svg>") == std::string::npos) return "no </svg>";
  size_t opens = 0, closes = 0;
  for (size_t p = svg.find("<g"); p != std::string::npos; p = svg.find("<g", p + 1))
    opens += svg[p + 2] == ' ' || svg[p + 2] == '>';
  for (size_t p = svg.find("</g>"); p != std::string::npos; p = svg.find("</g>", p + 1)) ++closes;
  return opens == closes ? "" : "unbalanced <g> groups";
}

// A PNG file's width and height from its IHDR chunk, after checking the signature, that IHDR
// comes first and that the file ends with the IEND chunk; {0, 0} when any of that fails.
inline std::pair<uint32_t, uint32_t> png_size(const std::string& bytes) {
  static const std::string signature = "\x89PNG\r\n\x1a\n";
  static const std::string iend("\0\0\0\0IEND\xae\x42\x60\x82", 12);
  if (bytes.size() < 33 + iend.size() || bytes.compare(0, 8, signature) != 0 || bytes.compare(12, 4, "IHDR") != 0 ||
      bytes.compare(bytes.size() - iend.size(), iend.size(), iend) != 0)
    return {0, 0};
  auto be32 = [&](size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = v << 8 | static_cast<uint8_t>(bytes[at + i]);
    return v;
  };
  return {be32(16), be32(20)};
}

}  // namespace lowbit::testing
