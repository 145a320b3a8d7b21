// How a process learns it is one rank of an mpirun job, fed environments rather than read from
// this one's, and what a build without MPI says when mpirun starts more than one rank: the one
// decision both builds share, so CI's build (with MPI) checks the other's message too.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "base/error.hpp"
#include "train/communicator.hpp"

namespace vktrain {
namespace {

int64_t ranks_in(const std::map<std::string, std::string>& environment) {
  return train::launched_ranks([&](const char* name) -> const char* {
    const auto it = environment.find(name);
    return it == environment.end() ? nullptr : it->second.c_str();
  });
}

TEST(Launch, ReadsTheJobSizeTheLauncherSet) {
  EXPECT_EQ(ranks_in({}), 0);  // not launched: one rank, MPI never initialised
  EXPECT_EQ(ranks_in({{"OMPI_COMM_WORLD_SIZE", "2"}}), 2);
  EXPECT_EQ(ranks_in({{"PMI_SIZE", "4"}}), 4);
  EXPECT_EQ(ranks_in({{"PMIX_RANK", "0"}}), 1);
  // A value that is no count still means a launcher: one rank at least.
  EXPECT_EQ(ranks_in({{"OMPI_COMM_WORLD_SIZE", "x"}}), 1);
  EXPECT_EQ(ranks_in({{"OMPI_COMM_WORLD_SIZE", "-3"}}), 1);
}

TEST(Launch, ABuildWithoutMpiRefusesSeveralRanks) {
  const int64_t ranks = ranks_in({{"OMPI_COMM_WORLD_SIZE", "2"}, {"OMPI_COMM_WORLD_RANK", "1"}});
  try {
    train::check_launch(ranks, false);
    FAIL() << "a build without MPI started 2 ranks";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "[mpi] mpirun started 2 ranks, but this vktrain was built without MPI (CMake found "
              "no Open MPI, or -DVKTRAIN_MPI=OFF): install libopenmpi-dev and rebuild for "
              "data-parallel training, or run vktrain without mpirun");
  }
  EXPECT_NO_THROW(train::check_launch(ranks, true));
  EXPECT_NO_THROW(train::check_launch(1, false));  // mpirun -np 1: one rank, nothing to share
  EXPECT_NO_THROW(train::check_launch(0, false));
}

}  // namespace
}  // namespace vktrain
