#pragma once
// Checkpoints of a data-parallel run. All replicas and optimiser states are identical, so
// rank 0 alone writes the file, atomically (twin/io/checkpoint.hpp: temporary file, fsync,
// rename): a job killed at any moment leaves the previous checkpoint or the new one, never
// half a file. Loading is done by rank 0 and broadcast, so only rank 0 needs to see the file
// (no shared file system is assumed) and every rank fails together, with rank 0's message,
// when it does not load.
//
// The file is the same as a one-process checkpoint: nothing in it depends on the rank count
// (it records "user.mpi.ranks" for information only). The global batches are drawn from the
// saved RNG independently of the rank count (shard.hpp), so a run saved on p ranks resumes
// on any other number of ranks, or in one process with twin::io::load_checkpoint.
#include <bit>
#include <cstdint>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "twin/io/checkpoint.hpp"
#include "twin/mpi/communicator.hpp"

namespace twin::mpi {

// Collective. Rank 0 writes; the barrier after it means that once this returns on any rank,
// the file is complete and durable.
template <Model M, class T = typename M::value_type>
void save_checkpoint(const Communicator& comm, const std::filesystem::path& path, const M& net,
                     Optimizer<T>& opt, const Rng& rng, long long epoch, std::map<std::string, std::string> user = {}) {
  std::string failure;
  if (comm.is_root()) {
    user["mpi.ranks"] = std::to_string(comm.size());
    try {
      io::save_checkpoint(path, net, opt, rng, epoch, user);
    } catch (const std::exception& e) {
      failure = e.what();
    }
  }
  comm.broadcast(failure, 0, "the checkpoint write status");
  if (!failure.empty()) throw io_error("twin::mpi::save_checkpoint on rank 0: " + failure);
}

// Collective. Rank 0 reads `path` (io::load_checkpoint checks everything before changing
// anything); then parameters, buffers, optimiser state, step count, learning rate, RNG,
// epoch and user metadata go to every rank. On failure every rank throws io_error with
// rank 0's reason and nothing was changed.
template <Model M, class T = typename M::value_type>
io::CheckpointInfo load_checkpoint(const Communicator& comm, const std::filesystem::path& path, M& net,
                                   Optimizer<T>& opt, Rng& rng) {
  std::string failure;
  io::CheckpointInfo info;
  if (comm.is_root()) {
    try {
      info = io::load_checkpoint(path, net, opt, rng);
    } catch (const std::exception& e) {
      failure = e.what();
    }
  }
  comm.broadcast(failure, 0, "the checkpoint read status");
  if (!failure.empty()) throw io_error("twin::mpi::load_checkpoint on rank 0: " + failure);

  if (comm.is_root()) {
    comm.broadcast(net.params(), 0, "the checkpoint's parameters");
    comm.broadcast(net.buffers(), 0, "the checkpoint's buffers");
  } else {  // through assign(), which also marks the model initialised and zeroes its gradients
    std::vector<T> params(net.params().size()), buffers(net.buffers().size());
    comm.broadcast(std::span<T>(params), 0, "the checkpoint's parameters");
    comm.broadcast(std::span<T>(buffers), 0, "the checkpoint's buffers");
    net.assign(params, buffers);
  }
  // The optimiser: sized on every rank, then rank 0's state, step count and learning rate.
  if (!comm.is_root()) opt.resize_state(static_cast<Index>(net.params().size()));
  for (auto& [slot, t] : opt.state()) comm.broadcast(t.span(), 0, "optimizer state " + slot);
  std::int64_t steps = opt.steps();
  double lr = opt.lr();
  comm.broadcast(steps, 0, "the optimizer step count");
  comm.broadcast(lr, 0, "the learning rate");
  opt.set_steps(steps);
  opt.set_lr(lr);
  // The RNG, epoch and user metadata.
  Rng::State rs = rng.state();
  std::uint64_t words[6] = {rs.s[0], rs.s[1], rs.s[2], rs.s[3], std::bit_cast<std::uint64_t>(rs.spare),
                            rs.has_spare ? 1u : 0u};
  comm.broadcast(std::span<std::uint64_t>(words), 0, "the RNG state");
  rng.set_state({{words[0], words[1], words[2], words[3]}, std::bit_cast<double>(words[4]), words[5] != 0});
  std::int64_t epoch = info.epoch;
  comm.broadcast(epoch, 0, "the epoch");
  info.epoch = epoch;
  std::string user;
  if (comm.is_root())
    for (const auto& [k, v] : info.user) user += k + '\n' + v + '\n';
  comm.broadcast(user, 0, "the checkpoint's user metadata");
  if (!comm.is_root()) {
    info.user.clear();
    std::istringstream in(user);
    for (std::string k, v; std::getline(in, k) && std::getline(in, v);) info.user[k] = v;
  }
  return info;
}

}  // namespace twin::mpi
