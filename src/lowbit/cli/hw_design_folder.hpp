// A design folder written by `lowbit hw rtl` (docs/HARDWARE.md, "Verilog generation"), read
// back by the commands that work on one (hw sim, hw synth): the design is rebuilt from
// DIR/model.lbm and DIR/folding.json and checked against DIR/rtl/<top>.v.
#pragma once
#include <string>

#include "lowbit/format/model_desc.hpp"
#include "lowbit/hw/rtl_design.hpp"

namespace lowbit::cli {

// The design of folder `dir`; `desc` receives its model. Throws lowbit::Error naming the
// folder or file: no model.lbm and folding.json ("not a design folder"), a missing top
// module, library file or memory image, or one that differs from what model.lbm and
// folding.json generate (edited, or written by another lowbit).
hw::RtlDesign load_design_folder(const std::string& dir, format::ModelDesc& desc);

}  // namespace lowbit::cli
