#include "lowbit/dist/launch.hpp"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <thread>
#include <vector>

#include "lowbit/core/file_io.hpp"

#if LOWBIT_HAVE_MPI
#include "lowbit/dist/mpi_communicator.hpp"
#endif

namespace lowbit::dist {

bool mpi_built() { return LOWBIT_HAVE_MPI != 0; }

namespace {
// The first of `names` set to an integer in [lo, 1 << 24] in the environment, else `fallback`.
int env_int(std::initializer_list<const char*> names, long lo, int fallback) {
  for (const char* name : names) {
    const char* v = std::getenv(name);
    if (!v || !*v) continue;
    char* end = nullptr;
    const long n = std::strtol(v, &end, 10);
    if (*end == '\0' && n >= lo && n <= (1 << 24)) return static_cast<int>(n);
  }
  return fallback;
}
}  // namespace

// Open MPI's mpirun, then PMI launchers (MPICH's hydra).
int launched_group_size() { return env_int({"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}, 1, 1); }
int launched_rank() { return env_int({"OMPI_COMM_WORLD_RANK", "PMI_RANK"}, 0, 0); }

std::unique_ptr<Communicator> join_launched_group(double timeout_s) {
  const int n = launched_group_size();
  if (n <= 1) return nullptr;
#if LOWBIT_HAVE_MPI
  return make_mpi_communicator(timeout_s);
#else
  usage_fail("this process is one of ", n, " started by mpirun, but this lowbit was built without MPI (CMake option "
             "LOWBIT_MPI; Debian's libopenmpi-dev): the ", n, " processes would each train their own model. Rebuild "
             "with MPI (scripts/install-deps.sh installs it), or run lowbit without mpirun");
#endif
}

std::string binary_identity() {
  try {
    const std::vector<uint8_t> exe = read_file("/proc/self/exe");
    return cat("crc32 ", crc32(exe.data(), exe.size()), " of ", exe.size(), " bytes");
  } catch (const Error&) {
    return "unknown";
  }
}

int machine_cores() {
  const int machine = static_cast<int>(std::thread::hardware_concurrency());
  return machine > 0 ? machine : omp_get_num_procs();
}

int default_threads(int local_processes) {
  const int bound = omp_get_num_procs();  // the cores this process may run on (its affinity)
  return std::max(1, std::min(bound, machine_cores() / std::max(1, local_processes)));
}

}  // namespace lowbit::dist
