#pragma once
// DataParallel<T>: synchronous data-parallel training over MPI. Every rank holds a full
// replica of the model; each step every rank runs forward and backward on its shard of the
// global batch (twin/mpi/shard.hpp), the gradients are combined so that every rank holds
//
//     g = sum_r  w_r g_r          w_r = n_r / n  (shard_weight), g_r = the rank's gradient of
//                                 its MEAN loss over its n_r samples
//
// which is the gradient of the mean loss over all n samples, and every rank then takes the
// same optimiser step, so the replicas stay identical without ever sending parameters.
//
//   twin::mpi::DataParallel<float> dp(comm, model);        // model: params()/grads() spans
//   dp.broadcast_from_root();                               // rank 0's weights everywhere
//   for (...) {
//     auto mine = twin::mpi::shard(global_batch, comm.rank(), comm.size());
//     model.zero_grad();  ... forward / loss (Reduction::mean) / backward on `mine` ...
//     dp.all_reduce_gradients(twin::mpi::shard_weight(n, comm.rank(), comm.size()));
//     dp.all_reduce_buffers(...same weight...);             // BatchNorm running statistics
//     opt.step(model.params(), model.grads());
//   }
//
// BUCKETS. The flat gradient buffer is cut into buckets of about Options::bucket_bytes,
// numbered from the END of the buffer: backward produces the last layers' gradients first,
// so those buckets can leave first. Each bucket is one non-blocking collective; all are in
// flight at once and waited for together.
//
// OVERLAP WITH BACKWARD. start_gradients(w) / gradients_ready(offset, count) /
// finish_gradients() let a backward pass hand over each layer's parameter-gradient range as
// soon as that layer's backward has run: a bucket whose range is complete is scaled and
// sent while the earlier layers still compute. The model's workspace calls the hook after
// each node's backward with that node's range in grads():
//     ws.on_gradients_ready([&](std::size_t o, std::size_t n) { dp.gradients_ready(o, n); });
//     dp.start_gradients(w);  ... forward, loss, backward ...  dp.finish_gradients();
// (Workspace / SiameseWorkspace::on_gradients_ready). docs/distributed.md measures when
// overlap pays; all_reduce_gradients() after backward is the simpler path.
//
// REDUCTION ORDER AND BITS. ReduceOrder::mpi uses MPI_Iallreduce: for 2 ranks every sum is
// a single IEEE addition, which is commutative, so the result is bit-identical to one process
// computing g_0 and g_1 and adding them. For more ranks MPI may add in any order.
// ReduceOrder::fixed gathers every rank's bucket and adds them in rank order,
//     ((w_0 g_0 + w_1 g_1) + w_2 g_2) + ...
// on every rank: bit-identical to a single process summing its shards in order, for any
// rank count, at the price of (p - 1) x bytes received instead of 2 (p - 1) / p x bytes.
//
// BATCHNORM. Batch statistics are PER RANK: each rank normalises its shard with the shard's
// own mean and variance (PyTorch DDP's default; no communication inside forward or
// backward). The running statistics (buffers()) are averaged over ranks with the same
// weights after each step by all_reduce_buffers(), so the replicas' buffers stay identical
// and the running mean is exactly that of the global-batch means. A model trained on p
// ranks with BatchNorm is therefore the model of one process that runs its global batch as p
// separately normalised micro-batches (tests/mpi/test_data_parallel.cpp checks exactly
// that), not of one process normalising all n samples together.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "twin/mpi/communicator.hpp"
#include "twin/tensor.hpp"

namespace twin::mpi {

enum class ReduceOrder { mpi, fixed };

// The model's flat spans. Sequential has buffers(); a SiameseModule's buffers are its
// tower's. This is the one place that knows the containers' names.
template <class Model>
auto buffers_of(Model& m) {
  if constexpr (requires { m.buffers(); }) return m.buffers();
  else return m.tower().buffers();
}

struct DataParallelOptions {
  std::size_t bucket_bytes = std::size_t{4} << 20;  // about 4 MiB of gradients per collective
  ReduceOrder order = ReduceOrder::mpi;
};

template <class T>
class DataParallel {
 public:
  using Options = DataParallelOptions;
  // Seconds spent in the last all_reduce_gradients() / finish_gradients(): scaling and
  // sending the buckets not yet sent, and waiting for all of them.
  struct Timing {
    double reduce_seconds = 0;
    std::size_t bytes = 0;  // gradient bytes this rank contributed
  };

  // The spans must stay valid (build the model completely before this). The constructor is
  // collective: it checks that every rank has the same parameter and buffer counts.
  DataParallel(const Communicator& comm, std::span<T> params, std::span<T> grads, std::span<T> buffers, Options o = {})
      : comm_(comm), params_(params), grads_(grads), buffers_(buffers), o_(o) {
    if (params.size() != grads.size())
      throw error(twin::detail::concat("twin::mpi::DataParallel: ", params.size(), " parameters but ", grads.size(),
                                       " gradients"));
    if (o_.bucket_bytes < sizeof(T)) throw error("twin::mpi::DataParallel: bucket_bytes must hold one value");
    check_same_sizes();
    const std::size_t per = o_.bucket_bytes / sizeof(T), n = grads_.size();
    for (std::size_t end = n; end > 0;) {
      const std::size_t begin = end > per ? end - per : 0;
      buckets_.push_back({begin, end - begin, 0, false});
      end = begin;
    }
    requests_.assign(buckets_.size(), MPI_REQUEST_NULL);
    grads_what_ = twin::detail::concat(" (", detail::bytes_str(grads_.size() * sizeof(T)), " in ", buckets_.size(),
                                       buckets_.size() == 1 ? " bucket)" : " buckets)");
    if (o_.order == ReduceOrder::fixed) gathered_.resize(n * static_cast<std::size_t>(comm_.size()));
  }
  template <class Model>
  DataParallel(const Communicator& comm, Model& model, Options o = {})
      : DataParallel(comm, model.params(), model.grads(), buffers_of(model), o) {}

  const Communicator& communicator() const { return comm_; }
  Index num_buckets() const { return static_cast<Index>(buckets_.size()); }
  const Timing& last_timing() const { return timing_; }

  // Parameters and buffers := rank 0's, so replicas start equal whatever each rank's seed.
  void broadcast_from_root() {
    comm_.broadcast(params_, 0, "the parameters");
    comm_.broadcast(buffers_, 0, "the buffers");
  }

  // grads := sum_r weight_r grads_r on every rank (weight: this rank's w_r, usually
  // shard_weight). Call after backward, before the optimiser step.
  void all_reduce_gradients(double weight) {
    start_gradients(weight);
    finish_gradients();
  }

  // The overlapped form: start, then report each range whose gradients are final (from a
  // backward hook, in any order, each element once), then finish.
  void start_gradients(double weight) {
    if (started_) throw error("twin::mpi::DataParallel::start_gradients: the previous step was not finished");
    started_ = true;
    weight_ = static_cast<T>(weight);
    for (auto& b : buckets_) b.ready = 0, b.sent = false;
    std::fill(requests_.begin(), requests_.end(), MPI_REQUEST_NULL);
  }
  void gradients_ready(std::size_t offset, std::size_t count) {
    if (!started_) throw error("twin::mpi::DataParallel::gradients_ready: call start_gradients first");
    if (offset + count > grads_.size())
      throw error(twin::detail::concat("twin::mpi::DataParallel::gradients_ready: range [", offset, ", ",
                                       offset + count, ") is outside the ", grads_.size(), " gradients"));
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
      Bucket& b = buckets_[i];
      const std::size_t lo = std::max(offset, b.begin), hi = std::min(offset + count, b.begin + b.count);
      if (lo >= hi) continue;
      b.ready += hi - lo;
      if (b.ready > b.count) throw error("twin::mpi::DataParallel::gradients_ready: a range was reported twice");
      if (b.ready == b.count) send(i);
    }
    // Give MPI a chance to progress what is in flight.
    int flag = 0;
    if (!requests_.empty())
      detail::check(MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &flag, MPI_STATUSES_IGNORE),
                    comm_.where(), ": gradient all-reduce");
  }
  void finish_gradients() {
    if (!started_) throw error("twin::mpi::DataParallel::finish_gradients: call start_gradients first");
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < buckets_.size(); ++i)
      if (!buckets_[i].sent) send(i);
    comm_.wait(requests_, "all-reduce of the gradients", grads_what_);
    if (o_.order == ReduceOrder::fixed) sum_in_rank_order();
    started_ = false;
    timing_ = {std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), grads_.size() * sizeof(T)};
  }

  // buffers := sum_r weight_r buffers_r (BatchNorm running statistics; see BATCHNORM).
  // A no-op when the model has no buffers.
  void all_reduce_buffers(double weight) {
    if (buffers_.empty()) return;
    const T w = static_cast<T>(weight);
    for (auto& v : buffers_) v *= w;
    if (o_.order == ReduceOrder::fixed) {
      scratch_.resize(buffers_.size() * static_cast<std::size_t>(comm_.size()));
      MPI_Request r;
      detail::check(MPI_Iallgather(buffers_.data(), static_cast<int>(buffers_.size()), detail::datatype<T>(), scratch_.data(),
                                   static_cast<int>(buffers_.size()), detail::datatype<T>(), comm_.native(), &r),
                    comm_.where(), ": MPI_Iallgather of the buffers");
      comm_.wait(std::span<MPI_Request>(&r, 1), "all-gather of the buffers");
      add_in_rank_order(scratch_.data(), buffers_.data(), buffers_.size(), buffers_.size());
    } else {
      comm_.all_reduce_sum(buffers_, "the buffers");
    }
  }

  // Throws mpi_error unless every rank holds bit-identical parameters and buffers (a cheap
  // hash of both, compared over ranks). For tests and for checking a resumed run.
  void check_replicas() const {
    const std::uint64_t h = hash(), lo = comm_.all_reduce(h, MPI_MIN, "the replica hash"),
                        hi = comm_.all_reduce(h, MPI_MAX, "the replica hash");
    if (lo != hi)
      throw mpi_error("twin::mpi: " + comm_.where() + ": the replicas differ (parameters or buffers are not bit-identical)");
  }

 private:
  struct Bucket {
    std::size_t begin, count, ready;
    bool sent;
  };
  void check_same_sizes() const {
    const std::int64_t mine[2] = {static_cast<std::int64_t>(params_.size()), static_cast<std::int64_t>(buffers_.size())};
    std::int64_t lo[2] = {mine[0], mine[1]}, hi[2] = {mine[0], mine[1]};
    comm_.all_reduce(std::span<std::int64_t>(lo), MPI_MIN, "the model sizes");
    comm_.all_reduce(std::span<std::int64_t>(hi), MPI_MAX, "the model sizes");
    if (lo[0] != hi[0] || lo[1] != hi[1])
      throw mpi_error(twin::detail::concat("twin::mpi: ", comm_.where(), ": this replica has ", mine[0],
                                           " parameters and ", mine[1], " buffer values; over all ranks they range over [",
                                           lo[0], ", ", hi[0], "] and [", lo[1], ", ", hi[1], "]: every rank must build the same model"));
  }
  void send(std::size_t i) {
    Bucket& b = buckets_[i];
    T* g = grads_.data() + b.begin;
    if (weight_ != T(1))
      for (std::size_t k = 0; k < b.count; ++k) g[k] *= weight_;
    const int n = static_cast<int>(b.count);
    if (o_.order == ReduceOrder::fixed)
      detail::check(MPI_Iallgather(g, n, detail::datatype<T>(), gathered_.data() + b.begin * std::size_t(comm_.size()), n,
                                   detail::datatype<T>(), comm_.native(), &requests_[i]),
                    comm_.where(), ": MPI_Iallgather of a gradient bucket");
    else
      detail::check(MPI_Iallreduce(MPI_IN_PLACE, g, n, detail::datatype<T>(), MPI_SUM, comm_.native(), &requests_[i]),
                    comm_.where(), ": MPI_Iallreduce of a gradient bucket");
    b.sent = true;
  }
  // gathered_ holds, per bucket at begin * p, the p ranks' copies one after another.
  void sum_in_rank_order() {
    for (const Bucket& b : buckets_)
      add_in_rank_order(gathered_.data() + b.begin * std::size_t(comm_.size()), grads_.data() + b.begin, b.count, b.count);
  }
  void add_in_rank_order(const T* parts, T* out, std::size_t n, std::size_t stride) const {
    for (std::size_t k = 0; k < n; ++k) out[k] = parts[k];
    for (int r = 1; r < comm_.size(); ++r) {
      const T* p = parts + static_cast<std::size_t>(r) * stride;
      for (std::size_t k = 0; k < n; ++k) out[k] += p[k];
    }
  }
  std::uint64_t hash() const {  // FNV-1a over the bytes
    std::uint64_t h = 1469598103934665603ull;
    auto add = [&](std::span<const T> s) {
      const auto* p = reinterpret_cast<const unsigned char*>(s.data());
      for (std::size_t i = 0; i < s.size_bytes(); ++i) h = (h ^ p[i]) * 1099511628211ull;
    };
    add(params_);
    add(buffers_);
    return h;
  }

  Communicator comm_;
  std::span<T> params_, grads_, buffers_;
  Options o_;
  std::vector<Bucket> buckets_;
  std::vector<MPI_Request> requests_;
  std::string grads_what_;  // " (8.0 MiB in 3 buckets)", for the wait's error message
  std::vector<T> gathered_, scratch_;  // ReduceOrder::fixed: every rank's copy
  T weight_ = T(1);
  bool started_ = false;
  Timing timing_;
};

}  // namespace twin::mpi
