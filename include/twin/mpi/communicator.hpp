#pragma once
// The MPI side of twin's data-parallel training: starting and stopping MPI, and the few
// collectives it needs, each with a deadline so that a rank that died or hung ends the job
// with a message instead of leaving the others waiting for ever.
//
//   int main(int argc, char** argv) {
//     twin::mpi::Environment env(argc, argv);              // MPI_Init ... MPI_Finalize
//     twin::mpi::Communicator comm = env.world({.timeout_seconds = 120});
//     return twin::mpi::run_or_abort(comm, [&] { ...; return 0; });
//   }
//
// FAILURE MODEL. MPI has no recovery: when one rank fails the job must end, quickly and
// saying why.
//  * An exception on a rank: run_or_abort prints "twin::mpi: rank r of p failed: <what>" and
//    calls MPI_Abort, which makes mpirun end every rank. An exception that leaves main
//    without run_or_abort still aborts the job: Environment's destructor sees it unwinding.
//  * A rank killed by a signal: mpirun notices the dead process and ends the others.
//  * A rank that hangs (or is stopped): every collective here is non-blocking underneath and
//    waited for with a deadline (Options::timeout_seconds); past it the waiting rank throws
//    mpi_error naming the operation, which run_or_abort turns into an abort.
// The wait polls MPI_Testall and sleeps between polls (up to 1 ms once the first few ms
// have passed): a rank that waits for a slower one then leaves its cores to it instead of
// spinning as blocking MPI calls do, which matters when ranks share a machine.
//
// Thread use: MPI is initialised with MPI_THREAD_FUNNELED; only the thread that made the
// Environment calls MPI (twin's worker threads never do).
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include "twin/error.hpp"

namespace twin::mpi {

// An MPI call failed or a collective did not complete in time.
struct mpi_error : error {
  using error::error;
};

namespace detail {
inline std::string error_string(int code) {
  char buf[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, buf, &len);
  return std::string(buf, static_cast<std::size_t>(len));
}
// `what` names the rank and the call: "rank 0 of 2: MPI_Ibcast of the parameters".
// The message is assembled from `what` only on failure: these calls sit in polling loops.
template <class... Parts>
void check(int code, const Parts&... what) {
  if (code != MPI_SUCCESS) throw mpi_error(twin::detail::concat("twin::mpi: ", what..., " failed: ", error_string(code)));
}
template <class T>
MPI_Datatype datatype() {
  if constexpr (std::is_same_v<T, float>) return MPI_FLOAT;
  else if constexpr (std::is_same_v<T, double>) return MPI_DOUBLE;
  else if constexpr (std::is_same_v<T, std::uint64_t>) return MPI_UINT64_T;
  else if constexpr (std::is_same_v<T, std::int64_t>) return MPI_INT64_T;
  else if constexpr (std::is_same_v<T, int>) return MPI_INT;
  else if constexpr (std::is_same_v<T, char>) return MPI_CHAR;
  else static_assert(sizeof(T) == 0, "twin::mpi: no MPI datatype for this type");
}
// "2.1 KiB", "8.4 MiB": sizes in messages.
inline std::string bytes_str(std::size_t bytes) {
  char buf[32];
  const double b = static_cast<double>(bytes);
  if (bytes < (std::size_t{1} << 20)) std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
  else std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1024.0 * 1024.0));
  return buf;
}
}  // namespace detail

struct CommunicatorOptions {
  // Longest wait for one collective. It bounds how long the job lives after a rank hangs,
  // so keep it above the longest honest imbalance between ranks (one step, a checkpoint).
  double timeout_seconds = 300.0;
};

class Communicator {
 public:
  using Options = CommunicatorOptions;

  // Wraps an existing communicator (MPI_COMM_WORLD, MPI_COMM_SELF, a split); does not own
  // it. Errors on it are returned to twin, which throws mpi_error, instead of aborting.
  explicit Communicator(MPI_Comm comm, Options o = {}) : comm_(comm), o_(o) {
    detail::check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    detail::check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    detail::check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
  }

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }
  MPI_Comm native() const { return comm_; }
  const Options& options() const { return o_; }
  // "rank 1 of 2": how every message names where it comes from.
  std::string where() const { return twin::detail::concat("rank ", rank_, " of ", size_); }

  // Waits for every request, or throws mpi_error naming `what` once the deadline passes.
  // `what` and `detail` (appended) name the operation; nothing is formatted unless it fails.
  void wait(std::span<MPI_Request> requests, std::string_view what, std::string_view detail = {}) const {
    if (requests.empty()) return;
    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    const auto deadline = start + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(o_.timeout_seconds));
    auto nap = std::chrono::microseconds(0);
    for (;;) {
      int done = 0;
      detail::check(MPI_Testall(static_cast<int>(requests.size()), requests.data(), &done, MPI_STATUSES_IGNORE),
                    where(), ": ", what, detail);
      if (done) return;
      const auto now = clock::now();
      if (now > deadline)
        throw mpi_error(twin::detail::concat("twin::mpi: ", where(), ": ", what, detail, " did not complete within ",
                                             o_.timeout_seconds,
                                             " s: another rank has probably failed, hung or fallen far behind"));
      // Spin for the first 2 ms (the usual case: the data is on its way), then back off.
      if (now - start > std::chrono::milliseconds(2)) {
        nap = std::min(std::chrono::microseconds(1000), std::max(std::chrono::microseconds(20), nap * 2));
        std::this_thread::sleep_for(nap);
      }
    }
  }

  // data on every rank := data on `root`.
  template <class T>
  void broadcast(std::span<T> data, int root, std::string_view what) const {
    std::vector<MPI_Request> reqs;
    for_each_piece(data.size(), [&](std::size_t off, int n) {
      reqs.emplace_back();
      detail::check(MPI_Ibcast(data.data() + off, n, detail::datatype<std::remove_const_t<T>>(), root, comm_, &reqs.back()),
                    where(), ": MPI_Ibcast of ", what);
    });
    wait(reqs, "broadcast of ", what);
  }
  template <class T>
  void broadcast(T& value, int root, std::string_view what) const {
    broadcast(std::span<T>(&value, 1), root, what);
  }
  // A string of any length, from root to all.
  void broadcast(std::string& s, int root, std::string_view what) const {
    std::uint64_t n = s.size();
    broadcast(n, root, twin::detail::concat(what, " (length)"));
    s.resize(static_cast<std::size_t>(n));
    broadcast(std::span<char>(s.data(), s.size()), root, what);
  }

  // data := elementwise sum over ranks (MPI's reduction order).
  template <class T>
  void all_reduce_sum(std::span<T> data, std::string_view what) const {
    all_reduce(data, MPI_SUM, what);
  }
  template <class T>
  void all_reduce(std::span<T> data, MPI_Op op, std::string_view what) const {
    std::vector<MPI_Request> reqs;
    for_each_piece(data.size(), [&](std::size_t off, int n) {
      reqs.emplace_back();
      detail::check(MPI_Iallreduce(MPI_IN_PLACE, data.data() + off, n, detail::datatype<T>(), op, comm_, &reqs.back()),
                    where(), ": MPI_Iallreduce of ", what);
    });
    wait(reqs, "all-reduce of ", what);
  }
  template <class T>
  T all_reduce(T value, MPI_Op op, std::string_view what) const {
    all_reduce(std::span<T>(&value, 1), op, what);
    return value;
  }

  void barrier(std::string_view what) const {
    MPI_Request r;
    detail::check(MPI_Ibarrier(comm_, &r), where(), ": MPI_Ibarrier (", what, ")");
    wait(std::span<MPI_Request>(&r, 1), "barrier: ", what);
  }

  // Prints "twin::mpi: rank r of p: <message>; aborting the job" to stderr and ends the
  // whole job (every rank, through mpirun).
  [[noreturn]] void abort(const std::string& message, int code = 1) const {
    abort_printing("twin::mpi: " + where() + ": " + message, code);
  }
  // The same with the whole line given.
  [[noreturn]] void abort_printing(const std::string& line, int code = 1) const {
    std::fprintf(stderr, "%s; aborting the job\n", line.c_str());
    std::fflush(stderr);
    MPI_Abort(comm_, code);
    std::_Exit(code);  // MPI_Abort does not return
  }

 private:
  // MPI counts are int: split longer arrays into pieces of at most 2^30 elements.
  template <class F>
  static void for_each_piece(std::size_t n, F&& f) {
    constexpr std::size_t piece = std::size_t{1} << 30;
    for (std::size_t off = 0; off < n; off += piece) f(off, static_cast<int>(std::min(piece, n - off)));
  }
  MPI_Comm comm_;
  Options o_;
  int rank_ = 0, size_ = 1;
};

// MPI_Init_thread in the constructor, MPI_Finalize in the destructor; or, when the
// destructor runs because an exception is leaving the scope, MPI_Abort: a rank that gives
// up must not wait in MPI_Finalize for ranks that wait for it.
class Environment {
 public:
  Environment(int& argc, char**& argv) {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (initialised) return;  // someone else owns MPI
    int provided = 0;
    detail::check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    owner_ = true;
    exceptions_ = std::uncaught_exceptions();
  }
  ~Environment() {
    if (!owner_) return;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) return;
    if (std::uncaught_exceptions() > exceptions_) {
      std::fprintf(stderr, "twin::mpi: an exception left the MPI scope; aborting the job\n");
      std::fflush(stderr);
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    MPI_Finalize();
  }
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

  Communicator world(Communicator::Options o = {}) const { return Communicator(MPI_COMM_WORLD, o); }

 private:
  bool owner_ = false;
  int exceptions_ = 0;
};

// True when this process was started by an MPI launcher (mpirun / mpiexec of Open MPI or
// MPICH, or a PMIx/PMI launcher such as srun), which set these variables: a program that
// also runs alone can then set MPI up only when it is one rank of a job (a singleton
// MPI_Init costs a second or two and can be done only once per process).
inline bool launched_by_mpirun() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"})
    if (std::getenv(v)) return true;
  return false;
}

// Runs body() (which returns main's exit code); on an exception prints which rank failed
// and why, and aborts the job.
template <class F>
int run_or_abort(const Communicator& comm, F&& body) {
  try {
    return body();
  } catch (const mpi_error& e) {
    comm.abort_printing(e.what());  // already says which rank and what
  } catch (const std::exception& e) {
    comm.abort_printing("twin::mpi: " + comm.where() + " failed: " + e.what());
  } catch (...) {
    comm.abort_printing("twin::mpi: " + comm.where() + " failed with an unknown exception");
  }
}

}  // namespace twin::mpi
