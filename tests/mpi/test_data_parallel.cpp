// Data-parallel training over MPI (twin/mpi/*) against one process. Run under
// `mpirun -np 2` (tests/mpi.cmake); also correct with -np 1 and more ranks.
//
// What "the same model" means, checked here:
//  * without BatchNorm, p ranks with global batch n end with the weights of one process
//    training on the whole batch of n, to 1e-5 (float rounding: the batch sum is split
//    into p partial sums), and with BIT-IDENTICAL weights to one process that computes the
//    p shards' gradients and adds them in rank order;
//  * with BatchNorm (per-rank batch statistics, running statistics averaged), bit-identical
//    weights and running statistics to one process running the p shards as separately
//    normalised micro-batches.
#include <doctest/doctest.h>

#include <twin/mpi/checkpoint.hpp>
#include <twin/mpi/data_parallel.hpp>
#include <twin/mpi/shard.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <thread>
#include <unistd.h>

#include "toy_problem.hpp"

namespace test_data_parallel {
using namespace twin_mpi_test;
using twin::mpi::Communicator;
using twin::mpi::DataParallel;
using twin::mpi::ReduceOrder;

constexpr Index pairs_in_data = 40, global_n = 8;

const Communicator& world() {
  static const Communicator w(MPI_COMM_WORLD, {.timeout_seconds = 60});
  return w;
}

twin::SiameseModule<float> model(bool batchnorm, std::uint64_t seed = 7) {
  return twin::SiameseModule<float>(tower(batchnorm, seed));
}

std::vector<float> copy(std::span<const float> s) { return {s.begin(), s.end()}; }
float max_abs_diff(std::span<const float> a, std::span<const float> b) {
  REQUIRE(a.size() == b.size());
  float m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

// `steps` data-parallel steps on `comm`: the loop a real program runs.
void train_data_parallel(const Communicator& comm, twin::SiameseModule<float>& m, twin::SGD<float>& opt,
                         twin::Rng& sampler, const PairData& d, int steps, DataParallel<float>::Options o = {}) {
  DataParallel<float> dp(comm, m, o);
  StepBuffers b;
  for (int s = 0; s < steps; ++s) {
    const std::vector<Index> global = global_batch(sampler, global_n, pairs_in_data);
    const auto mine = twin::mpi::shard(global, comm.rank(), comm.size());
    const double w = twin::mpi::shard_weight(global_n, comm.rank(), comm.size());
    m.zero_grad();
    accumulate_gradients(m, d, mine, b);
    dp.all_reduce_gradients(w);
    dp.all_reduce_buffers(w);
    opt.step(m.params(), m.grads());
  }
}

// One process doing what p ranks do: each shard's gradient (and BatchNorm update) from the
// same starting point, weighted, added in rank order. p = 1 is plain full-batch training.
void train_one_process(twin::SiameseModule<float>& m, twin::SGD<float>& opt, twin::Rng& sampler, const PairData& d,
                       int steps, int p) {
  StepBuffers b;
  std::vector<float> g_sum(m.grads().size()), b_sum(m.tower().buffers().size());
  for (int s = 0; s < steps; ++s) {
    const std::vector<Index> global = global_batch(sampler, global_n, pairs_in_data);
    const std::vector<float> buffers_before = copy(m.tower().buffers());
    for (int r = 0; r < p; ++r) {
      std::copy(buffers_before.begin(), buffers_before.end(), m.tower().buffers().begin());
      m.zero_grad();
      accumulate_gradients(m, d, twin::mpi::shard(global, r, p), b);
      const auto w = static_cast<float>(twin::mpi::shard_weight(global_n, r, p));
      auto add = [&](std::span<const float> v, std::vector<float>& sum) {
        for (std::size_t k = 0; k < v.size(); ++k) sum[k] = r == 0 ? w * v[k] : sum[k] + w * v[k];
      };
      add(m.grads(), g_sum);
      add(m.tower().buffers(), b_sum);
    }
    std::copy(g_sum.begin(), g_sum.end(), m.grads().begin());
    std::copy(b_sum.begin(), b_sum.end(), m.tower().buffers().begin());
    opt.step(m.params(), m.grads());
  }
}

TEST_CASE("shard: contiguous slices that make up the global batch in rank order, sizes within one") {
  for (int p = 1; p <= 5; ++p)
    for (Index n = 0; n <= 13; ++n) {
      std::vector<Index> global(static_cast<std::size_t>(n));
      for (Index i = 0; i < n; ++i) global[static_cast<std::size_t>(i)] = 100 + i;
      std::vector<Index> joined;
      double weights = 0;
      for (int r = 0; r < p; ++r) {
        const auto s = twin::mpi::shard(global, r, p);
        CHECK(static_cast<Index>(s.size()) >= n / p);
        CHECK(static_cast<Index>(s.size()) <= n / p + 1);
        joined.insert(joined.end(), s.begin(), s.end());
        weights += twin::mpi::shard_weight(n, r, p);
      }
      CHECK(joined == global);
      if (n > 0) CHECK(weights == doctest::Approx(1.0));
    }
  CHECK_THROWS_AS(twin::mpi::shard_range(4, 2, 2), twin::error);
  CHECK_THROWS_AS(twin::mpi::shard_range(4, 0, 0), twin::error);
}

TEST_CASE("broadcast_from_root: replicas start as rank 0's, whatever each rank's seed") {
  auto m = model(true, 1 + static_cast<std::uint64_t>(world().rank()));
  for (float& v : m.tower().buffers()) v = static_cast<float>(world().rank());
  DataParallel<float> dp(world(), m);
  if (world().size() > 1) CHECK_THROWS_AS(dp.check_replicas(), twin::mpi::mpi_error);
  dp.broadcast_from_root();
  CHECK_NOTHROW(dp.check_replicas());
  const auto rank0 = model(true, 1);
  CHECK(max_abs_diff(m.params(), rank0.tower().params()) == 0.0f);
  CHECK(std::all_of(m.tower().buffers().begin(), m.tower().buffers().end(), [](float v) { return v == 0.0f; }));
}

TEST_CASE("DataParallel refuses replicas of different sizes, on every rank") {
  if (world().size() == 1) return;
  twin::Sequential<float> t;
  t.add(twin::Dense{.in = 3, .out = 2 + world().rank()});
  t.init(1);
  CHECK_THROWS_WITH_AS(DataParallel<float>(world(), t), doctest::Contains("every rank must build the same model"),
                       twin::mpi::mpi_error);
}

TEST_CASE("p ranks train like one process: full batch to 1e-5, shard sums bit-identical") {
  const PairData d = make_pairs(pairs_in_data, 11);
  for (const ReduceOrder order : {ReduceOrder::mpi, ReduceOrder::fixed}) {
    const std::string order_name = order == ReduceOrder::mpi ? "mpi" : "fixed";
    CAPTURE(order_name);
    auto dp = model(false);
    auto opt = optimizer();
    twin::Rng sampler(5);
    // Small buckets: the tower's gradients go in several pieces.
    train_data_parallel(world(), dp, opt, sampler, d, 5, {.bucket_bytes = 1024, .order = order});
    DataParallel<float>(world(), dp).check_replicas();

    auto full = model(false);
    auto opt_full = optimizer();
    twin::Rng sampler_full(5);
    train_one_process(full, opt_full, sampler_full, d, 5, 1);
    const float diff = max_abs_diff(dp.params(), full.params());
    MESSAGE("max |w_mpi - w_one_process| after 5 steps: " << diff);
    CHECK(diff <= 1e-5f);
    CHECK(max_abs_diff(dp.params(), model(false).params()) > 1e-3f);  // it did train

    auto shards = model(false);
    auto opt_shards = optimizer();
    twin::Rng sampler_shards(5);
    train_one_process(shards, opt_shards, sampler_shards, d, 5, world().size());
    // ReduceOrder::mpi is bit-identical for 2 ranks (one commutative addition per value).
    if (order == ReduceOrder::fixed || world().size() <= 2) CHECK(max_abs_diff(dp.params(), shards.params()) == 0.0f);
  }
}

TEST_CASE("BatchNorm: per-rank batch statistics, running statistics averaged over ranks") {
  const PairData d = make_pairs(pairs_in_data, 12);
  auto dp = model(true);
  auto opt = optimizer();
  twin::Rng sampler(6);
  train_data_parallel(world(), dp, opt, sampler, d, 4, {.order = ReduceOrder::fixed});
  DataParallel<float>(world(), dp).check_replicas();

  auto shards = model(true);
  auto opt_shards = optimizer();
  twin::Rng sampler_shards(6);
  train_one_process(shards, opt_shards, sampler_shards, d, 4, world().size());
  CHECK(max_abs_diff(dp.params(), shards.params()) == 0.0f);
  CHECK(max_abs_diff(dp.tower().buffers(), shards.tower().buffers()) == 0.0f);
  CHECK(max_abs_diff(dp.tower().buffers(), model(true).tower().buffers()) > 1e-3f);  // statistics moved

  if (world().size() > 1) {  // and that is not what one process normalising all n samples does
    auto full = model(true);
    auto opt_full = optimizer();
    twin::Rng sampler_full(6);
    train_one_process(full, opt_full, sampler_full, d, 4, 1);
    CHECK(max_abs_diff(dp.params(), full.params()) > 1e-5f);
  }
}

TEST_CASE("gradients_ready: buckets sent as a backward hook reports ranges give the same bits") {
  const PairData d = make_pairs(pairs_in_data, 13);
  auto m = model(false);
  twin::Rng sampler(8);
  StepBuffers b;
  const std::vector<Index> global = global_batch(sampler, global_n, pairs_in_data);
  accumulate_gradients(m, d, twin::mpi::shard(global, world().rank(), world().size()), b);
  const std::vector<float> local = copy(m.grads());
  const double w = twin::mpi::shard_weight(global_n, world().rank(), world().size());

  DataParallel<float> dp(world(), m, {.bucket_bytes = 256});
  REQUIRE(dp.num_buckets() > 3);
  dp.all_reduce_gradients(w);
  const std::vector<float> after_backward = copy(m.grads());

  std::copy(local.begin(), local.end(), m.grads().begin());
  dp.start_gradients(w);
  const auto tensors = m.tower().named_tensors();  // reported last layer first, as backward runs
  for (auto t = tensors.rbegin(); t != tensors.rend(); ++t)
    if (t->trainable) dp.gradients_ready(static_cast<std::size_t>(t->offset), static_cast<std::size_t>(t->shape.numel()));
  CHECK_THROWS_WITH(dp.gradients_ready(0, 1), doctest::Contains("reported twice"));
  dp.finish_gradients();
  CHECK(max_abs_diff(m.grads(), after_backward) == 0.0f);
  CHECK(dp.last_timing().bytes == m.grads().size() * sizeof(float));
}

TEST_CASE("overlap: the graph's backward hook sends every bucket during backward, same bits") {
  const PairData d = make_pairs(pairs_in_data, 14);
  auto m = model(false);
  twin::Rng sampler(9);
  const std::vector<Index> global = global_batch(sampler, global_n, pairs_in_data);
  const auto mine = twin::mpi::shard(global, world().rank(), world().size());
  const double w = twin::mpi::shard_weight(global_n, world().rank(), world().size());
  DataParallel<float> dp(world(), m, {.bucket_bytes = 256});
  REQUIRE(dp.num_buckets() > 3);

  StepBuffers plain;  // reduce after backward
  m.zero_grad();
  accumulate_gradients(m, d, mine, plain);
  dp.all_reduce_gradients(w);
  const std::vector<float> after_backward = copy(m.grads());

  StepBuffers hooked;  // the same step, buckets sent from inside backward
  std::size_t reported = 0;
  hooked.ws.on_gradients_ready([&](std::size_t offset, std::size_t count) {
    reported += count;
    dp.gradients_ready(offset, count);
  });
  for (int step = 0; step < 2; ++step) {
    m.zero_grad();
    reported = 0;
    dp.start_gradients(w);
    accumulate_gradients(m, d, mine, hooked);
    CHECK(reported == m.grads().size());  // every range was handed over by backward itself
    dp.finish_gradients();
    CHECK(max_abs_diff(m.grads(), after_backward) == 0.0f);
  }
}

TEST_CASE("checkpoint by rank 0 resumes bit-identically on as many ranks, and on one rank to 1e-5") {
  const PairData d = make_pairs(pairs_in_data, 14);
  std::string dir;
  if (world().is_root()) dir = (std::filesystem::temp_directory_path() / ("twin_mpi_test_" + std::to_string(::getpid()))).string();
  world().broadcast(dir, 0, "the test folder");
  if (world().is_root()) std::filesystem::create_directories(dir);
  const std::filesystem::path path = std::filesystem::path(dir) / "ckpt.safetensors";

  auto m = model(false);
  auto opt = optimizer();
  twin::Rng sampler(9);
  train_data_parallel(world(), m, opt, sampler, d, 3);
  twin::mpi::save_checkpoint(world(), path, m.tower(), opt, sampler, 3, {{"note", "three steps"}});
  CHECK(std::filesystem::exists(path));
  train_data_parallel(world(), m, opt, sampler, d, 3);

  {  // the same rank count: the same bits
    auto r = model(false, 999);
    auto ropt = optimizer();
    twin::Rng rs(0);
    const auto info = twin::mpi::load_checkpoint(world(), path, r.tower(), ropt, rs);
    CHECK(info.epoch == 3);
    CHECK(info.user.at("note") == "three steps");
    CHECK(info.user.at("mpi.ranks") == std::to_string(world().size()));
    train_data_parallel(world(), r, ropt, rs, d, 3);
    CHECK(max_abs_diff(r.params(), m.params()) == 0.0f);
  }
  {  // one rank (every process on its own): the same global batches, other partial sums
    const Communicator self(MPI_COMM_SELF);
    auto r = model(false, 999);
    auto ropt = optimizer();
    twin::Rng rs(0);
    twin::mpi::load_checkpoint(self, path, r.tower(), ropt, rs);
    train_data_parallel(self, r, ropt, rs, d, 3);
    CHECK(max_abs_diff(r.params(), m.params()) <= 1e-5f);
  }
  {  // a missing file fails on every rank with rank 0's reason
    auto r = model(false);
    auto ropt = optimizer();
    twin::Rng rs(0);
    CHECK_THROWS_WITH_AS(twin::mpi::load_checkpoint(world(), path.string() + ".missing", r.tower(), ropt, rs),
                         doctest::Contains("on rank 0"), twin::io_error);
  }
  world().barrier("test cleanup");
  if (world().is_root()) std::filesystem::remove_all(dir);
}

TEST_CASE("a collective that a peer does not join in time throws, naming what and where") {
  if (world().size() == 1) return;
  MPI_Comm dup;
  MPI_Comm_dup(MPI_COMM_WORLD, &dup);
  {
    const Communicator late(dup, {.timeout_seconds = 0.3});
    if (late.is_root()) {
      const std::string expected =
          "rank 0 of " + std::to_string(late.size()) + ": barrier: a test did not complete within 0.3 s";
      CHECK_THROWS_WITH_AS(late.barrier("a test"), doctest::Contains(expected.c_str()), twin::mpi::mpi_error);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(800));
      late.barrier("a test");  // joins the one rank 0 gave up on, so it completes
    }
  }
  world().barrier("after the timeout test");
  MPI_Comm_free(&dup);
}

}  // namespace test_data_parallel
