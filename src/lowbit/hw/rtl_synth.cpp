#include "lowbit/hw/rtl_synth.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "lowbit/core/error.hpp"
#include "lowbit/core/file_io.hpp"
#include "lowbit/hw/eda_tools.hpp"
#include "lowbit/hw/rtl_writer.hpp"

namespace lowbit::hw {

namespace {

// LUT sites a Xilinx LUT-memory cell takes (UG474 / UG574: a RAM64M is four 6-LUTs, a
// RAM64X1D two, a shift register one).
const std::map<std::string, int64_t>& lutram_sites() {
  static const std::map<std::string, int64_t> m = {
      {"RAM16X1S", 1}, {"RAM32X1S", 1},  {"RAM64X1S", 1},  {"RAM128X1S", 2}, {"RAM256X1S", 4}, {"RAM512X1S", 8},
      {"RAM16X1D", 2}, {"RAM32X1D", 2},  {"RAM64X1D", 2},  {"RAM128X1D", 4}, {"RAM256X1D", 8}, {"RAM32M", 4},
      {"RAM64M", 4},   {"RAM32M16", 8},  {"RAM64M8", 8},   {"SRL16E", 1},    {"SRLC16E", 1},   {"SRLC32E", 1}};
  return m;
}

bool starts_with(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }


std::string abs_path(const std::string& p) { return std::filesystem::absolute(p).lexically_normal().string(); }

// The library files the design needs, absolute, each checked to exist.
std::vector<std::string> library_files(const std::string& rtl) {
  std::vector<std::string> files;
  for (const auto& kv : verilog_library()) {
    const std::string f = rtl + "/" + kv.first;
    LOWBIT_CHECK(file_exists(f), f, " is missing: regenerate the folder with lowbit hw rtl");
    files.push_back(abs_path(f));
  }
  return files;
}

// Runs the script in DIR/rtl, the log in DIR/synth/<name>.log; returns the run's counts.
SynthRun run_yosys(const std::string& dir, const std::string& name, const std::vector<std::string>& sources,
                   const std::string& top, const SynthOptions& opt) {
  const std::string yosys = find_tool("yosys", "yosys");
  const std::string work = abs_path(dir + "/synth/" + name);
  make_dirs(work);
  const std::string log = abs_path(dir + "/synth/" + name + ".log");
  const std::string stat = work + "/stat.json";
  std::filesystem::remove(log);
  std::filesystem::remove(stat);
  // Relative to DIR/rtl, where yosys runs (unit names have no white space).
  const std::string netlist = opt.netlist ? work + "/netlist.v" : "";
  write_file_atomic(work + "/synth.ys", yosys_script(sources, top, opt, "../synth/" + name + "/stat.json", netlist));
  const auto t0 = std::chrono::steady_clock::now();
  const int st = run_tool(cat(shell_quote(yosys), " -s ", shell_quote(work + "/synth.ys")),
                          abs_path(dir + "/rtl"), log);
  SynthRun r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  check_tool(st, cat("yosys (", name, ")"), log);
  LOWBIT_CHECK(file_exists(stat), "yosys (", name, ") wrote no ", stat, "; see ", log);
  r.name = name;
  const std::string text = read_tool_output(stat);
  r.counts = parse_stat_json(text, top, opt.target, stat);
  r.yosys = stat_json_creator(text);
  r.log = log;
  r.netlist = netlist;
  return r;
}

}  // namespace

SynthCounts& SynthCounts::operator+=(const SynthCounts& o) {
  lut += o.lut, lutram += o.lutram, ff += o.ff, bram18 += o.bram18, uram += o.uram, dsp += o.dsp, ebr += o.ebr,
      carry += o.carry;
  for (const auto& kv : o.cells) cells[kv.first] += kv.second;
  return *this;
}

SynthCounts count_cells(const std::map<std::string, int64_t>& cells, SynthTarget target) {
  SynthCounts c;
  c.cells = cells;
  for (const auto& [type, n] : cells) {
    if (target == SynthTarget::kIce40) {
      if (type == "SB_LUT4") c.lut += n;
      else if (starts_with(type, "SB_DFF")) c.ff += n;
      else if (starts_with(type, "SB_RAM40_4K")) c.ebr += n;
      else if (type == "SB_MAC16") c.dsp += n;
      else if (type == "SB_CARRY") c.carry += n;
      continue;
    }
    if (type.size() == 4 && starts_with(type, "LUT") && type[3] >= '1' && type[3] <= '6') c.lut += n;
    else if (lutram_sites().count(type)) c.lutram += n * lutram_sites().at(type);
    else if (starts_with(type, "FD")) c.ff += n;
    else if (starts_with(type, "RAMB18")) c.bram18 += n;
    else if (starts_with(type, "RAMB36")) c.bram18 += 2 * n;
    else if (starts_with(type, "URAM")) c.uram += n;
    else if (starts_with(type, "DSP48")) c.dsp += n;
    else if (starts_with(type, "CARRY")) c.carry += n;
  }
  return c;
}

SynthCounts parse_stat_json(const std::string& text, const std::string& top, SynthTarget target, const std::string& file) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  LOWBIT_CHECK(j.is_object() && j.contains("modules") && j["modules"].is_object(), file,
               ": not yosys stat -json output (no \"modules\" object)");
  const nlohmann::json& mods = j["modules"];
  // yosys escapes public names with a backslash: "\\top".
  const auto it = mods.contains("\\" + top) ? mods.find("\\" + top) : mods.find(top);
  LOWBIT_CHECK(it != mods.end(), file, ": no module ", top, " (the synthesized top)");
  std::map<std::string, int64_t> cells;
  if (it->contains("num_cells_by_type")) {
    const nlohmann::json& by = (*it)["num_cells_by_type"];
    LOWBIT_CHECK(by.is_object(), file, ": module ", top, ": num_cells_by_type is not an object");
    for (auto c = by.begin(); c != by.end(); ++c) {
      LOWBIT_CHECK(c.value().is_number_integer() && c.value().get<int64_t>() >= 0, file, ": module ", top, ": cell count of ",
                   c.key(), " is not a count");
      cells[c.key()] = c.value().get<int64_t>();
    }
  }
  return count_cells(cells, target);
}

std::string stat_json_creator(const std::string& text) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  return j.is_object() && j.contains("creator") && j["creator"].is_string() ? j["creator"].get<std::string>() : "";
}

std::string yosys_script(const std::vector<std::string>& sources, const std::string& top, const SynthOptions& opt,
                         const std::string& stat_json, const std::string& netlist) {
  // yosys's script lexer takes a double-quoted word as one file name (spaces allowed).
  const auto q = [](const std::string& f) { return "\"" + f + "\""; };
  std::ostringstream s;
  s << "# Generated by lowbit hw synth (docs/SYNTHESIS.md).\n";
  // -defer: the library modules are elaborated only with their instances' parameters (their
  // default memory file names do not exist).
  for (const std::string& f : sources) s << "read_verilog -defer " << q(f) << "\n";
  if (opt.target == SynthTarget::kIce40) s << "synth_ice40 -top " << top << "\n";
  // -noiopad: a unit alone is not a chip; no I/O buffers on its ports.
  else s << "synth_xilinx -flatten -noiopad -family " << opt.family << " -top " << top << "\n";
  // tee takes its file name as is (quotes would be part of it): callers pass a relative path.
  LOWBIT_CHECK(stat_json.find_first_of(" \t\n\"") == std::string::npos, "yosys_script: ", stat_json,
               ": a statistics path with white space");
  s << "tee -q -o " << stat_json << " stat -json\n";
  if (!netlist.empty()) s << "write_verilog -noattr " << q(netlist) << "\n";
  return s.str();
}

std::vector<std::string> stage_mem_files(const RtlStage& s) {
  std::vector<std::string> files;
  for (const auto& [key, value] : s.params) {
    if (value.size() > 6 && value.front() == '"' && value.back() == '"' && value.compare(value.size() - 5, 4, ".mem") == 0)
      files.push_back(value.substr(1, value.size() - 2));
  }
  return files;
}

SynthRun synth_stage(const RtlDesign& d, size_t stage, const std::string& dir, const SynthOptions& opt) {
  LOWBIT_CHECK(stage < d.stages.size(), "synth_stage: stage ", stage, " of ", d.stages.size());
  const RtlStage& s = d.stages[stage];
  const std::string rtl = dir + "/rtl";
  std::vector<std::string> sources = library_files(rtl);
  for (const std::string& m : stage_mem_files(s)) {
    // A file parameter the module does not read (LabelSelect's RFILE without its ROM) has no image.
    const bool written = std::any_of(d.mems.begin(), d.mems.end(), [&](const MemImage& x) { return x.file == m; });
    LOWBIT_CHECK(!written || file_exists(rtl + "/" + m), rtl, "/", m, " is missing (the memory image of ", s.name,
                 "): regenerate the folder with lowbit hw rtl");
  }
  const std::string top = "lowbit_unit_" + s.name;
  const std::string wrapper = abs_path(dir + "/synth/" + s.name + "/unit.v");
  make_dirs(dir + "/synth/" + s.name);
  write_file_atomic(wrapper, stage_wrapper_verilog(s, top));
  sources.push_back(wrapper);
  SynthRun r = run_yosys(dir, s.name, sources, top, opt);
  r.module = s.module;
  r.node = s.node;
  return r;
}

std::vector<std::string> design_sources(const RtlDesign& d, const std::string& dir) {
  const std::string rtl = dir + "/rtl";
  std::vector<std::string> sources = library_files(rtl);
  const std::string top = rtl + "/" + d.top + ".v";
  LOWBIT_CHECK(file_exists(top), top, " is missing: regenerate the folder with lowbit hw rtl");
  for (const MemImage& m : d.mems)
    LOWBIT_CHECK(file_exists(rtl + "/" + m.file), rtl, "/", m.file, " is missing: regenerate the folder with lowbit hw rtl");
  sources.push_back(abs_path(top));
  return sources;
}

SynthRun synth_whole(const RtlDesign& d, const std::string& dir, const SynthOptions& opt) {
  SynthRun r = run_yosys(dir, d.top, design_sources(d, dir), d.top, opt);
  r.module = d.top;
  return r;
}

}  // namespace lowbit::hw
