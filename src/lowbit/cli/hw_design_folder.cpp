#include "lowbit/cli/hw_design_folder.hpp"

#include <algorithm>
#include <vector>

#include "lowbit/core/error.hpp"
#include "lowbit/core/file_io.hpp"
#include "lowbit/format/lbm.hpp"
#include "lowbit/hw/folding.hpp"
#include "lowbit/hw/rtl_writer.hpp"

namespace lowbit::cli {

hw::RtlDesign load_design_folder(const std::string& dir, format::ModelDesc& desc) {
  const std::string model = dir + "/model.lbm", folding = dir + "/folding.json";
  LOWBIT_CHECK(file_exists(model) && file_exists(folding), dir, ": not a design folder (no model.lbm and folding.json; ",
               "write one with lowbit hw rtl MODEL.lbm --fps N -o ", dir, ")");
  desc = format::read_model_desc(format::LbmFile::read(model));
  hw::Graph g = hw::build_graph(desc);
  hw::apply_folding_file(g, folding);
  hw::RtlDesign d = hw::build_rtl(desc, g);
  // The simulated or synthesized Verilog must be the design the estimates describe: the top
  // module, the library and every memory image, byte for byte.
  auto same = [&](const std::string& name, const std::string& want) {
    const std::string path = dir + "/rtl/" + name;
    LOWBIT_CHECK(file_exists(path), path, " is missing: regenerate the folder with lowbit hw rtl");
    const std::vector<uint8_t> have = read_file(path);
    LOWBIT_CHECK(have.size() == want.size() && std::equal(have.begin(), have.end(), want.begin()), path,
                 " does not match model.lbm and folding.json beside it (edited, or written by another lowbit): "
                 "regenerate the folder with lowbit hw rtl");
  };
  same(d.top + ".v", hw::top_verilog(d));
  for (const auto& [name, text] : hw::verilog_library()) same(name, text);
  for (const hw::MemImage& m : d.mems) same(m.file, hw::mem_text(m));
  return d;
}

}  // namespace lowbit::cli
