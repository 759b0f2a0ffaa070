#include "lowbit/cli/hw_design_folder.hpp"

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
  const std::string top = dir + "/rtl/" + d.top + ".v";
  LOWBIT_CHECK(file_exists(top), top, " is missing: regenerate the folder with lowbit hw rtl");
  const std::vector<uint8_t> have = read_file(top);
  // The synthesized or simulated Verilog must be the design the estimates describe.
  LOWBIT_CHECK(std::string(have.begin(), have.end()) == hw::top_verilog(d), top,
               " does not match model.lbm and folding.json beside it (edited, or written by another lowbit): "
               "regenerate the folder with lowbit hw rtl");
  return d;
}

}  // namespace lowbit::cli
