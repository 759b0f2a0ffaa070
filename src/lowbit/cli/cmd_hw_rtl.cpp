// lowbit hw rtl | sim: Verilog of a model's dataflow pipeline, and its simulation against
// the runtime (docs/HARDWARE.md, "Verilog generation", "Simulation").
//   lowbit hw rtl MODEL.lbm (--folding F.json | --fps N [--clock-mhz F]) -o DIR
//   lowbit hw sim DIR --data D [--images N] [--simulator verilator|iverilog] [--backpressure]
#include <filesystem>
#include <iomanip>
#include <iostream>

#include "lowbit/cli/commands.hpp"
#include "lowbit/cli/hw_design_folder.hpp"
#include "lowbit/cli/hw_commands.hpp"
#include "lowbit/core/error.hpp"
#include "lowbit/core/file_io.hpp"
#include "lowbit/data/loader.hpp"
#include "lowbit/format/input_fit.hpp"
#include "lowbit/format/lbm.hpp"
#include "lowbit/hw/folding.hpp"
#include "lowbit/hw/rtl_sim.hpp"
#include "lowbit/hw/rtl_writer.hpp"

namespace lowbit::cli {

namespace {

struct RtlArgs {
  std::string file, folding, output;
  double fps = 0, clock_mhz = 100;
  int64_t wwidth_max = 36;
};

int run_rtl(const RtlArgs& a) {
  const ModelFileKind kind = model_file_kind(a.file);
  if (kind == ModelFileKind::kJsonTopology) topology_given_as_file(a.file);
  if (kind == ModelFileKind::kOnnx) onnx_given_as_model(a.file);
  if (kind == ModelFileKind::kOther) fail(a.file, ": not a .lbm model file (export a checkpoint first)");
  // -o is a folder (write_design_folder refuses a file, or a folder that is not a design's).
  const std::vector<uint8_t> bytes = read_file(a.file);
  const format::ModelDesc desc = format::read_model_desc(format::LbmFile::read(a.file));
  hw::Graph g = hw::build_graph(desc);
  if (!a.folding.empty()) {
    for (const std::string& s : hw::apply_folding_file(g, a.folding)) std::cout << "note: skipped " << s << "\n";
  } else {
    const double cycles = a.clock_mhz * 1e6 / a.fps;
    LOWBIT_CHECK_USAGE(cycles >= 1, "--fps ", a.fps, " is above one frame per clock cycle at ", a.clock_mhz, " MHz");
    LOWBIT_CHECK_USAGE(cycles < 1e15, "--fps ", a.fps, " is more than 10^15 cycles per frame at ", a.clock_mhz, " MHz");
    hw::set_folding(g, {hw::target_cycles_per_frame(a.clock_mhz, a.fps), a.wwidth_max, true});
    try {
      hw::check_folding(g);
    } catch (const Error& e) {
      fail("--fps ", a.fps, ": SetFolding chose a folding beyond the stream limits (", e.what(), "); ask for fewer frames/s");
    }
  }
  const hw::RtlDesign d = hw::build_rtl(desc, g);
  hw::write_design_folder(d, a.output, bytes, hw::folding_json(g).dump(2) + "\n");
  const int64_t slowest = d.bottleneck().cycles;
  const std::string& bottleneck = d.bottleneck().name;
  std::cout << "Wrote " << a.output << "/rtl/" << d.top << ".v: " << d.stages.size() << " stages ("
            << g.nodes.size() << " units), " << d.mems.size() << " memory images, " << d.memory_bits << " memory bits\n"
            << "Estimate: " << slowest << " clocks per frame (" << bottleneck << "), "
            << std::fixed << std::setprecision(1) << a.clock_mhz * 1e6 / static_cast<double>(slowest)
            << " frames/s at " << a.clock_mhz << " MHz\n"
            << "Next: lowbit hw sim " << a.output << " --data fashion-mnist; lowbit hw synth " << a.output << "\n";
  return 0;
}

struct SimArgs {
  std::string dir, data;
  int64_t images = 100, max_cycles = 0;
  std::string simulator = "verilator";
  bool backpressure = false, stages = true;
  uint32_t seed = 1;
};

int run_sim(const SimArgs& a) {
  format::ModelDesc desc;
  const hw::RtlDesign d = load_design_folder(a.dir, desc);
  const data::DataSplit split = data::load_data(a.data);
  const data::Dataset& ds = split.test;
  format::check_images_fit(desc.input.shape, ds.channels, ds.height, ds.width, ds.name);
  LOWBIT_CHECK_USAGE(a.images <= ds.size(), "--images ", a.images, ": the test split of ", a.data, " has ", ds.size());
  const int64_t n = a.images;
  hw::SimOptions opt;
  opt.simulator = a.simulator, opt.backpressure = a.backpressure, opt.seed = a.seed, opt.max_cycles = a.max_cycles;
  const int64_t bound = a.max_cycles > 0 ? a.max_cycles : hw::cycle_bound(d, n, a.backpressure);
  LOWBIT_CHECK(a.max_cycles > 0 || bound <= int64_t{20'000'000'000},
               "simulating ", n, " frames of this design needs up to ", bound,
               " clocks (more than 2 x 10^10, days of simulation): fold it faster, simulate fewer --images, or give "
               "--max-cycles");
  if (a.simulator == "iverilog")
    LOWBIT_CHECK(bound <= 200'000'000 && d.memory_bits <= 8'000'000, "Icarus Verilog is for small designs (this run: up to ",
                 bound, " clocks, ", d.memory_bits, " memory bits; at most 2 x 10^8 and 8 x 10^6): use --simulator verilator");

  // The runtime's answers.
  runtime::Engine engine = runtime::Engine::load(a.dir + "/model.lbm");
  std::vector<int32_t> pred(static_cast<size_t>(n));
  engine.run(ds.images.data(), n, ds.channels, ds.height, ds.width, nullptr, pred.data());
  const std::vector<std::vector<int32_t>> trace = engine.trace(ds.images.data(), n, ds.channels, ds.height, ds.width);
  const format::LayerDesc& last = desc.layers.back();

  std::cout << "Simulating " << n << " frames of '" << desc.name << "' (" << d.top << ") with " << a.simulator
            << (a.backpressure ? ", random back-pressure" : "") << "...\n"
            << std::flush;
  const hw::SimResult r = hw::simulate(d, a.dir, hw::input_stream(d, desc.input.shape, ds.images.data(), n, ds.channels, ds.height, ds.width), n, opt);
  int64_t acc_same = 0, label_same = 0, correct = 0, first_bad = -1;
  for (int64_t i = 0; i < n; ++i) {
    const hw::SimFrame& f = r.frames[static_cast<size_t>(i)];
    bool same = true;
    for (int64_t c = 0; c < d.classes; ++c) {
      const int64_t sign = last.negated.empty() || !last.negated[static_cast<size_t>(c)] ? 1 : -1;
      same &= f.acc[static_cast<size_t>(c)] * sign == trace.back()[static_cast<size_t>(i * d.classes + c)];
    }
    acc_same += same;
    label_same += f.label == pred[static_cast<size_t>(i)];
    correct += f.label == ds.labels[static_cast<size_t>(i)];
    if ((!same || f.label != pred[static_cast<size_t>(i)]) && first_bad < 0) first_bad = i;
  }
  const int64_t slowest = d.bottleneck().cycles;
  const std::string& bottleneck = d.bottleneck().name;
  std::cout << std::fixed << std::setprecision(2) << "Simulated " << r.cycles << " clocks in " << r.seconds << " s\n"
            << "Scores: " << acc_same << " of " << n << " frames' raw accumulators identical to the runtime\n"
            << "Labels: " << label_same << " of " << n << " identical to the runtime's predictions; accuracy "
            << std::setprecision(4) << static_cast<double>(correct) / static_cast<double>(n) << "\n";
  if (first_bad >= 0) {
    const hw::SimFrame& f = r.frames[static_cast<size_t>(first_bad)];
    std::cout << "First difference: image " << first_bad << ": hardware label " << f.label << ", runtime "
              << pred[static_cast<size_t>(first_bad)] << "; accumulators";
    for (int64_t c = 0; c < d.classes; ++c)
      std::cout << " " << f.acc[static_cast<size_t>(c)] << "/" << trace.back()[static_cast<size_t>(first_bad * d.classes + c)];
    std::cout << " (hardware/runtime)\n";
  }
  std::cout << "Latency (frame 0, first input beat to label): "
            << r.frames[0].label_cycle - r.frames[0].in_cycle << " clocks\n";
  const int64_t from = std::min<int64_t>(2, n - 1);
  if (n - from >= 2) {
    const double ii = static_cast<double>(r.frames.back().label_cycle - r.frames[static_cast<size_t>(from)].label_cycle) /
                      static_cast<double>(n - 1 - from);
    const double off = 100.0 * (ii - static_cast<double>(slowest)) / static_cast<double>(slowest);
    std::cout << std::setprecision(1) << "Interval (steady state, frames " << from << ".." << n - 1 << "): " << ii
              << " clocks per frame; estimate " << slowest << " (" << bottleneck << "), " << std::setprecision(2) << off
              << "% off" << (off > 1.0 ? "  (above the estimate by more than 1%: units of equal rate in series stall each "
                                         "other through the depth-2 FIFOs; docs/HARDWARE.md, \"FIFOs\")"
                                       : "")
              << "\n";
  } else {
    std::cout << "Interval: needs at least 4 images (frames 2.. are steady)\n";
  }
  if (a.stages) {
    std::cout << "\nEach unit alone (never starved or blocked), clocks per frame:\n"
              << "  unit                              estimate   measured   interval   off\n";
    for (const hw::StageTiming& t : hw::measure_stages(d, a.dir, opt)) {
      const int64_t off = t.latency() - t.estimate;
      const bool ok = std::abs(off) <= std::max<int64_t>(15, t.estimate / 100);
      std::cout << "  " << std::left << std::setw(32) << t.name << std::right << std::setw(10) << t.estimate
                << std::setw(11) << t.latency() << std::setw(11) << t.interval() << std::setw(6) << off
                << (ok ? "" : "  (outside max(15, 1%))") << "\n";
    }
  }
  return acc_same == n && label_same == n ? 0 : 1;
}

}  // namespace

HwSubcommand add_hw_rtl_command(CLI::App& hw) {
  auto a = std::make_shared<RtlArgs>();
  CLI::App* cmd = hw.add_subcommand(
      "rtl", "Generate the Verilog of a model's dataflow pipeline (one module per unit, FIFOs, weight and threshold "
             "memory images) into a design folder");
  cmd->add_option("file", a->file, "A model file (.lbm) from lowbit export")->required();
  CLI::Option* folding =
      cmd->add_option("--folding", a->folding, "A FINN folding-config JSON file (lowbit hw plan -o writes one)")->check(non_empty());
  CLI::Option* fps = cmd->add_option("--fps", a->fps, "Fold with FINN's SetFolding for this many frames per second")
                         ->check(real_in(0, 1e12, /*lo_open=*/true));
  cmd->add_option("--clock-mhz", a->clock_mhz, "Clock for --fps, in MHz")->capture_default_str()->check(real_in(1, 2000));
  cmd->add_option("--mvau-wwidth-max", a->wwidth_max, "SetFolding's cap on an MVAU's weight bits per PE (FINN: 36)")
      ->capture_default_str()
      ->check(whole_in(1, 8191));
  folding->excludes(fps);
  cmd->add_option("-o,--output", a->output, "The design folder to write (rtl/, model.lbm, folding.json, design.json)")
      ->required()
      ->check(non_empty());
  cmd->footer(kExitCodesHelp);
  return {cmd, [a, cmd]() {
            if (a->folding.empty() && a->fps <= 0) usage_fail("hw rtl needs --folding F.json or --fps N");
            if (!a->folding.empty() && (cmd->get_option("--clock-mhz")->count() || cmd->get_option("--mvau-wwidth-max")->count()))
              usage_fail("--clock-mhz and --mvau-wwidth-max go with --fps, not --folding");
            return run_rtl(*a);
          }};
}

HwSubcommand add_hw_sim_command(CLI::App& hw) {
  auto a = std::make_shared<SimArgs>();
  CLI::App* cmd = hw.add_subcommand(
      "sim", "Simulate a design folder on real images (Verilator or Icarus Verilog) and compare every raw score "
             "accumulator and label with the runtime; report latency, interval and each unit's clocks");
  cmd->add_option("dir", a->dir, "A design folder from lowbit hw rtl")->required();
  cmd->add_option("--data", a->data, "fashion-mnist, mnist, or a data folder (its test split)")->required();
  cmd->add_option("--images", a->images, "Test images to stream, from the first")->capture_default_str()->check(whole_in(1, 1 << 24));
  cmd->add_option("--simulator", a->simulator, "verilator, or iverilog (small designs)")
      ->capture_default_str()
      ->check(CLI::IsMember({"verilator", "iverilog"}));
  cmd->add_flag("--backpressure", a->backpressure, "Stall the input and both outputs at random (an LFSR) clocks");
  cmd->add_option("--seed", a->seed, "Seed of the back-pressure LFSR")->capture_default_str()->check(whole_in(1, 0xffffffffLL));
  cmd->add_flag("!--no-stages", a->stages, "Skip the per-unit cycle bench");
  cmd->add_option("--max-cycles", a->max_cycles, "Stop the simulation after this many clocks (default: from the estimate)")
      ->check(whole_in(1, int64_t{1} << 50));
  cmd->footer(std::string("Exit 1 also when any accumulator or label differs from the runtime.\n") + kExitCodesHelp);
  return {cmd, [a]() { return run_sim(*a); }};
}

}  // namespace lowbit::cli
