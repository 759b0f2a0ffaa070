// How a command finds the group it runs in: a plain run is a group of one; a process that
// mpirun (Open MPI, or another launcher setting PMI/PMIx variables) started as one of N > 1
// joins the MPI group, when this lowbit was built with MPI (CMake option LOWBIT_MPI).
#pragma once
#include <memory>
#include <string>

#include "lowbit/core/communicator.hpp"

namespace lowbit::dist {

// True when this binary was built with MPI.
bool mpi_built();

// The number of processes a launcher says this one belongs to (Open MPI's mpirun:
// OMPI_COMM_WORLD_SIZE; PMI launchers such as MPICH's hydra: PMI_SIZE), 1 when none.
int launched_group_size();

// This process's rank in the group a launcher started (OMPI_COMM_WORLD_RANK, PMI_RANK), 0
// when none: before the group is joined, so that only rank 0 prints what every
// rank would print the same (a mistyped flag).
int launched_rank();

// The MPI group when launched_group_size() > 1, else nullptr (use single_process()).
// Throws lowbit::UsageError when launched as one of N > 1 by a binary built without MPI
// (the N processes would train N separate models into one folder), and lowbit::Error when
// MPI cannot start. timeout_s: the MPI group's collective timeout (dist/mpi_communicator.hpp).
std::unique_ptr<Communicator> join_launched_group(double timeout_s);

// What identifies this program's build across ranks (the start-up check of data-parallel
// training): the CRC-32 and size of the executable file (/proc/self/exe), or "unknown"
// where it cannot be read.
std::string binary_identity();

// OpenMP threads for one of `local_processes` processes on this machine (--threads 0): the
// machine's cores divided among the processes, and no more than the cores a launcher bound
// this process to (mpirun binds each rank to a core for -np <= 2, to a socket above); at
// least 1. So that ranks x threads does not exceed the cores.
int default_threads(int local_processes);

// The machine's online cores (not only those this process may run on).
int machine_cores();

}  // namespace lowbit::dist
