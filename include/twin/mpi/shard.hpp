#pragma once
// Deterministic sharding of a global batch across data-parallel ranks. Needs no MPI: a
// single process can compute any rank's shard (the tests' one-process reference does).
//
//   global batch of n samples, p ranks:  rank r gets the contiguous slice
//       [r n / p, (r + 1) n / p)            (integer division; sizes differ by at most one)
//   so the shards, in rank order, are the global batch again, whatever p is.
//
// Every rank draws the SAME global batch (same seed, same sampler state) and keeps only its
// slice: the sequence of global batches does not depend on the rank count, which is what
// lets a run resume from a checkpoint with another number of ranks.
//
//   std::span<const Index> mine = twin::mpi::shard(global_batch, comm.rank(), comm.size());
//   const double w = twin::mpi::shard_weight(global_batch.size(), comm.rank(), comm.size());  // n_r / n
#include <cstddef>
#include <span>
#include <vector>

#include "twin/error.hpp"
#include "twin/tensor.hpp"

namespace twin::mpi {

struct ShardRange {
  Index begin = 0;
  Index count = 0;
};

// This rank's part [begin, begin + count) of n samples.
inline ShardRange shard_range(Index n, int rank, int size) {
  if (size < 1 || rank < 0 || rank >= size)
    throw error(twin::detail::concat("twin::mpi::shard: rank ", rank, " is not in [0, ", size, ")"));
  if (n < 0) throw error(twin::detail::concat("twin::mpi::shard: negative batch size ", n));
  const Index b = n * rank / size, e = n * (rank + 1) / size;
  return {b, e - b};
}

// The rank's slice of a global batch of sample indices (or of anything else).
template <class T>
std::span<T> shard(std::span<T> global, int rank, int size) {
  const ShardRange r = shard_range(static_cast<Index>(global.size()), rank, size);
  return global.subspan(static_cast<std::size_t>(r.begin), static_cast<std::size_t>(r.count));
}
template <class T>
std::span<const T> shard(const std::vector<T>& global, int rank, int size) {
  return shard(std::span<const T>(global), rank, size);
}

// n_r / n: the weight of this rank's mean-reduced gradient in the global mean. With
// Reduction::mean on each rank, sum_r (n_r / n) grad_r is the gradient of the mean loss over
// the whole global batch.
inline double shard_weight(Index n, int rank, int size) {
  const ShardRange r = shard_range(n, rank, size);
  return n == 0 ? 0.0 : static_cast<double>(r.count) / static_cast<double>(n);
}

}  // namespace twin::mpi
