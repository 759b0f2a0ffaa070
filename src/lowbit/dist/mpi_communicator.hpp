// The Communicator of an `mpirun -np N lowbit train ...` job (docs/DISTRIBUTED.md): Open MPI
// (Debian's libopenmpi-dev), MPI_COMM_WORLD, only the main thread calling MPI
// (MPI_THREAD_FUNNELED; OpenMP threads compute, they never communicate). Built only with
// the CMake option LOWBIT_MPI (dist/launch.hpp chooses it).
//
// Faults: MPI errors are returned, not fatal (MPI_ERRORS_RETURN), and become lowbit::Error.
// A collective that waits longer than `timeout_s` for the other ranks (one has died, hangs,
// or runs another command) ends this process with a message on stderr naming the operation,
// the rank and the wait: mpirun then stops the job. Rank death itself is reported by mpirun
// ("mpirun noticed that process rank 1 ... exited on signal 9"), which ends the others.
#pragma once
#include <memory>

#include "lowbit/core/communicator.hpp"

namespace lowbit::dist {

// Initialises MPI (once per process); throws lowbit::Error when it cannot, or when
// timeout_s is not in [1, 1e6]. A process that was itself stopped (SIGSTOP) and resumed does
// not blame its peers for the time it was stopped.
std::unique_ptr<Communicator> make_mpi_communicator(double timeout_s);

}  // namespace lowbit::dist
