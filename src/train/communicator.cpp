#include "train/communicator.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "base/error.hpp"

#ifdef VKTRAIN_HAVE_MPI
#include <mpi.h>
#endif

namespace vktrain::train {

int64_t launched_ranks(const std::function<const char*(const char*)>& variable) {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
    if (const char* value = variable(name))
      return std::max<int64_t>(1, std::strtoll(value, nullptr, 10));
  return variable("PMIX_RANK") ? 1 : 0;
}

void check_launch(int64_t ranks, bool with_mpi) {
  if (ranks > 1 && !with_mpi)
    fail("[mpi] mpirun started {} ranks, but this vktrain was built without MPI (CMake found no "
         "Open MPI, or -DVKTRAIN_MPI=OFF): install libopenmpi-dev and rebuild for data-parallel "
         "training, or run vktrain without mpirun",
         ranks);
}

#ifdef VKTRAIN_HAVE_MPI

struct Communicator::Requests {
  std::vector<MPI_Request> pending;
};

Communicator::Communicator() : started_(std::make_unique<Requests>()) {}

std::unique_ptr<Communicator> Communicator::from_launch() {
  auto comm = std::make_unique<Communicator>();
  if (launched_ranks(std::getenv) == 0) return comm;
  MPI_Init(nullptr, nullptr);
  comm->initialised_ = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &comm->rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &comm->size_);
  // The node-local rank from the ranks sharing this machine's memory, whatever the launcher.
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, comm->rank_, MPI_INFO_NULL, &local);
  MPI_Comm_rank(local, &comm->local_rank_);
  MPI_Comm_free(&local);
  return comm;
}

Communicator::~Communicator() {
  if (initialised_) MPI_Finalize();
}

size_t Communicator::start_sum(std::span<float> values) const {
  if (!distributed()) return 0;
  // MPI counts are int: pieces of at most 2^30 elements.
  for (size_t first = 0; first < values.size(); first += size_t(1) << 30) {
    const int count = int(std::min(values.size() - first, size_t(1) << 30));
    MPI_Request request;
    MPI_Iallreduce(MPI_IN_PLACE, values.data() + first, count, MPI_FLOAT, MPI_SUM,
                   MPI_COMM_WORLD, &request);
    started_->pending.push_back(request);
  }
  return started_->pending.size();
}

size_t Communicator::start_reduce_scatter(std::span<float> values,
                                          std::span<const int> counts) const {
  if (!distributed()) return 0;
  MPI_Request request;
  MPI_Ireduce_scatter(MPI_IN_PLACE, values.data(), counts.data(), MPI_FLOAT, MPI_SUM,
                      MPI_COMM_WORLD, &request);
  started_->pending.push_back(request);
  return started_->pending.size();
}

size_t Communicator::start_gather(std::span<float> values, std::span<const int> counts,
                                  std::span<const int> displacements) const {
  if (!distributed()) return 0;
  MPI_Request request;
  MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, values.data(), counts.data(),
                  displacements.data(), MPI_FLOAT, MPI_COMM_WORLD, &request);
  started_->pending.push_back(request);
  return started_->pending.size();
}

void Communicator::send(std::span<const float> values, int to) const {
  for (size_t first = 0; first < values.size(); first += size_t(1) << 30)
    MPI_Send(values.data() + first, int(std::min(values.size() - first, size_t(1) << 30)),
             MPI_FLOAT, to, 0, MPI_COMM_WORLD);
}

void Communicator::receive(std::span<float> values, int from) const {
  for (size_t first = 0; first < values.size(); first += size_t(1) << 30)
    MPI_Recv(values.data() + first, int(std::min(values.size() - first, size_t(1) << 30)),
             MPI_FLOAT, from, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
}

// Finished requests become MPI_REQUEST_NULL, which later tests and waits pass over: the
// tickets stay valid until wait_started() clears them.
void Communicator::progress() const { done(started_->pending.size()); }

bool Communicator::done(size_t ticket) const {
  int finished = 1;
  if (ticket > 0)
    MPI_Testall(int(ticket), started_->pending.data(), &finished, MPI_STATUSES_IGNORE);
  return finished != 0;
}

void Communicator::wait_until(size_t ticket) const {
  MPI_Waitall(int(ticket), started_->pending.data(), MPI_STATUSES_IGNORE);
}

void Communicator::wait_started() const {
  MPI_Waitall(int(started_->pending.size()), started_->pending.data(), MPI_STATUSES_IGNORE);
  started_->pending.clear();
}

double Communicator::sum(double value) const {
  if (!distributed()) return value;
  std::vector<double> values(size_t(size_), 0.0);
  MPI_Allgather(&value, 1, MPI_DOUBLE, values.data(), 1, MPI_DOUBLE, MPI_COMM_WORLD);
  double total = values[0];
  for (size_t r = 1; r < values.size(); ++r) total += values[r];
  return total;
}

bool Communicator::any(bool value) const {
  int v = value;
  if (distributed()) MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
  return v != 0;
}

void Communicator::barrier() const {
  if (distributed()) MPI_Barrier(MPI_COMM_WORLD);
}

void Communicator::abort(const std::string& message) const {
  fmt::print(stderr, "vktrain: rank {} of {}: {}\n", rank_, size_, message);
  std::fflush(stderr);
  if (initialised_) MPI_Abort(MPI_COMM_WORLD, 1);
  std::abort();
}

#else

std::unique_ptr<Communicator> Communicator::from_launch() {
  check_launch(launched_ranks(std::getenv), false);
  return std::make_unique<Communicator>();
}

struct Communicator::Requests {};
Communicator::Communicator() = default;
Communicator::~Communicator() = default;
size_t Communicator::start_sum(std::span<float>) const { return 0; }
size_t Communicator::start_reduce_scatter(std::span<float>, std::span<const int>) const {
  return 0;
}
size_t Communicator::start_gather(std::span<float>, std::span<const int>,
                                  std::span<const int>) const {
  return 0;
}
// One rank has no one to talk to: the sharded optimizer never sends to itself.
void Communicator::send(std::span<const float>, int) const {
  fail("[mpi] this vktrain was built without MPI: nothing to send to");
}
void Communicator::receive(std::span<float>, int) const {
  fail("[mpi] this vktrain was built without MPI: nothing to receive from");
}
void Communicator::progress() const {}
bool Communicator::done(size_t) const { return true; }
void Communicator::wait_until(size_t) const {}
void Communicator::wait_started() const {}
double Communicator::sum(double value) const { return value; }
bool Communicator::any(bool value) const { return value; }
void Communicator::barrier() const {}

void Communicator::abort(const std::string& message) const {
  fmt::print(stderr, "vktrain: {}\n", message);
  std::fflush(stderr);
  std::abort();
}

#endif

}  // namespace vktrain::train
