#pragma once
// The ranks of a data-parallel run (DESIGN.md decision 10): one process per device, all started
// by mpirun (Open MPI) with the same command line. MPI is initialised only when mpirun launched
// the process (it sets OMPI_COMM_WORLD_SIZE; PMI_SIZE or PMIX_RANK under other launchers);
// otherwise, and always in a build without MPI, the run is one rank and nothing here talks to
// anyone. Collectives block, and every rank calls them in the same order.
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

namespace vktrain::train {

class Communicator {
 public:
  Communicator();  // one rank
  // The job mpirun launched this process into, MPI initialised (and finalised by the
  // destructor); one rank when mpirun did not launch it. In a build without MPI, a launch of
  // more than one rank fails, naming the build.
  static std::unique_ptr<Communicator> from_launch();
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }  // among the ranks on this machine
  bool distributed() const { return size_ > 1; }

  // Element-wise sums over the ranks, in place, started without waiting (MPI_Iallreduce), for
  // work to go on meanwhile; every rank starts the same sums in the same order and gets the same
  // result. MPI moves them on only inside MPI calls: progress() lets it between other work,
  // wait_started() returns when all have finished. Each start returns a ticket: wait_until(t)
  // returns, and done(t) is true, once that one and every one started before it have finished
  // (so a buffer may be reused while later ones are still under way).
  size_t start_sum(std::span<float> values) const;
  // A reduce-scatter started the same way (MPI_Ireduce_scatter in place): `values` is this
  // rank's whole contribution, cut into the ranks' parts of counts[r] elements in rank order;
  // this rank's part of the sums lands at the start of `values` (the rest is left undefined).
  // The counts must stay alive until wait_started(). On two ranks each element's sum is a + b,
  // the same bits as start_sum's.
  size_t start_reduce_scatter(std::span<float> values, std::span<const int> counts) const;
  // An all-gather started the same way (MPI_Iallgatherv in place): rank r's part of `values` is
  // counts[r] elements at displacements[r], filled in on every rank from rank r's. The counts
  // must stay alive until wait_started().
  size_t start_gather(std::span<float> values, std::span<const int> counts,
                      std::span<const int> displacements) const;
  void progress() const;
  bool done(size_t ticket) const;
  void wait_until(size_t ticket) const;
  void wait_started() const;
  // Point to point, blocking: `values` to rank `to`, and from rank `from` into `values`.
  void send(std::span<const float> values, int to) const;
  void receive(std::span<float> values, int from) const;
  // The sum over the ranks, added in rank order on every rank (all-gathered, then summed here:
  // MPI_Allreduce promises no order), so the bits are the same on every rank and every run.
  double sum(double value) const;
  bool any(bool value) const;
  void barrier() const;  // returns when every rank has called it
  // Prints `message` (one line, naming the rank) and ends every rank of the job: a failure on
  // one rank must not leave the others waiting in a collective.
  [[noreturn]] void abort(const std::string& message) const;

 private:
  int rank_ = 0, size_ = 1, local_rank_ = 0;
  bool initialised_ = false;
  struct Requests;  // the started collectives (MPI_Request is MPI's type)
  std::unique_ptr<Requests> started_;
};

// The number of ranks a launcher announced in the environment that `variable` reads (mpirun's
// OMPI_COMM_WORLD_SIZE, else PMI_SIZE; PMIX_RANK alone: 1), 0 when no launcher started the process.
int64_t launched_ranks(const std::function<const char*(const char*)>& variable);
// Fails, naming the build, when a launch of `ranks` ranks needs the MPI that a build without it
// (`with_mpi` false) lacks; one rank runs either way.
void check_launch(int64_t ranks, bool with_mpi);

}  // namespace vktrain::train
