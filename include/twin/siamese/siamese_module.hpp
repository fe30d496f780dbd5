#pragma once
// SiameseModule<T>: one tower (a Graph<T> or Sequential<T>), one parameter set, run over 2 branches
// (pairs) or 3 (triplets).
//
//   twin::SiameseModule<float> model(std::move(tower));       // tower.init(seed) done or later
//   twin::SiameseWorkspace<float> ws;
//   model.zero_grad();
//   auto e = model.forward({x1, x2}, ws, twin::Mode::train);  // e.all (2N, D); e.branch(0), e.branch(1)
//   auto dE = ws.d_embeddings();                               // (2N, D), same layout as e.all
//   loss(twin::PairBatch<float>{.first = e.branch(0), .second = e.branch(1), .labels = y},
//        {.first = dE.slice(0, N), .second = dE.slice(N, N)});
//   model.backward(dE, ws);                                    // grads() += both branches
//   opt.step(model.params(), model.grads());
//   ...
//   auto emb = model.embed(x, infer_ws);                       // const, eval mode
//
// BranchMode::stacked (the fast path, default) copies the branches one after another along
// the batch axis, (B N, ...), and runs the tower ONCE: one Workspace, one forward and one
// backward, larger GEMMs. Because every layer ACCUMULATES parameter gradients (layer.hpp),
// the one backward adds all branches' contributions into the one gradient buffer, which is
// exactly the gradient of the shared weights.
//
// BranchMode::separate runs the tower once per branch, each with its own Workspace, as
// Keras or PyTorch do when the same tower is called on input_1 and input_2. Gradients
// accumulate the same way.
//
// BATCH NORMALISATION AND SHARED BATCHES. Without BatchNorm (or any layer that looks across
// the batch) both modes give identical embeddings and gradients. With BatchNorm in
// Mode::train they differ, and the choice is a modelling decision:
//   * stacked: the batch statistics are computed over all B N samples of all branches
//     together, so the two images of a pair are normalised with the SAME mean and variance,
//     and the running statistics are updated once per step, from that joint batch.
//   * separate: each branch is normalised with its own batch statistics (the first images of
//     the pairs vs the second images), and the running statistics are updated B times per
//     step (momentum applied B times) - what the Keras tutorial does.
// In Mode::eval both use the running statistics, so embeddings no longer depend on what
// else is in the batch, and embed() of one image equals its branch of a pair.
// Stacked statistics are usually the better estimate (twice the samples, no asymmetry
// between "left" and "right" images); use separate to reproduce a framework's numbers.
#include <algorithm>
#include <initializer_list>
#include <utility>
#include <vector>

#include "twin/graph.hpp"
#include "twin/model.hpp"

namespace twin {

enum class BranchMode { stacked, separate };

// Embeddings of all branches: all (B N, D), branch i = rows [i N, (i + 1) N).
template <class T>
struct Embeddings {
  TensorView<const T> all;
  Index branches = 0;
  Index n = 0;  // samples per branch
  TensorView<const T> branch(Index i) const { return all.slice(i * n, n); }
};

template <class T>
class SiameseWorkspace {
 public:
  explicit SiameseWorkspace(std::uint64_t seed = 0) : ws_(seed) {}
  // A buffer shaped like the last forward's embeddings (B N, D), for the caller to fill
  // with dLoss/dEmbeddings before backward(). Contents are undefined until written.
  TensorView<T> d_embeddings() { return d_emb_.view(); }
  Workspace<T>& stacked_workspace() { return ws_; }
  // The execution context the tower runs on, for every inner workspace (see
  // Workspace::set_context); nullptr: each makes its own.
  void set_context(Context* exec) {
    exec_ = exec;
    ws_.set_context(exec);
    head_ws_.set_context(exec);
    for (auto& w : branch_ws_) w.set_context(exec);
  }
  // Workspace::on_gradients_ready for the whole model: the head's backward and the tower's
  // (stacked: its one backward; separate: the last branch's, after which every node's
  // gradients hold all branches' contributions).
  void on_gradients_ready(typename Workspace<T>::GradientsReady f) {
    grads_ready_ = std::move(f);
    ws_.on_gradients_ready(grads_ready_);
    head_ws_.on_gradients_ready(grads_ready_);
    for (std::size_t i = 0; i < branch_ws_.size(); ++i)
      branch_ws_[i].on_gradients_ready(i + 1 == branch_ws_.size() ? grads_ready_ : nullptr);
  }

 private:
  template <class>
  friend class SiameseModule;
  Workspace<T> ws_;                  // the stacked path's workspace
  Workspace<T> head_ws_;             // the head's
  std::vector<Workspace<T>> branch_ws_;  // one per branch in the separate path
  Tensor<T> stacked_;                // (B N, ...) stacked inputs
  Tensor<T> emb_;                    // (B N, D) embeddings of the separate path
  Tensor<T> d_emb_;                  // (B N, D)
  Index branches_ = 0, n_ = 0;
  BranchMode mode_ = BranchMode::stacked;
  bool has_forward_ = false;
  Context* exec_ = nullptr;
  typename Workspace<T>::GradientsReady grads_ready_;
};

template <class T>
class SiameseModule {
 public:
  using value_type = T;
  explicit SiameseModule(Graph<T> tower) : tower_(std::move(tower)) {}
  // A tower and a head in one model: the head is a graph with two inputs, the embeddings
  // of the first and second branch (N, D) each, e.g. Koch's |a - b| -> Dense(D, 1) for a
  // same/different logit. Both live in one parameter store (the head's tensors are named
  // "head.<node>..."), so one optimiser, one zero_grad() and one model file serve both.
  SiameseModule(Graph<T> tower, Graph<T> head) : tower_(std::move(tower)), head_(std::move(head)), has_head_(true) {
    if (head_.num_inputs() != 2)
      throw shape_error(detail::concat("SiameseModule: the head takes the two branches' embeddings (2 inputs), it has ",
                                       head_.num_inputs()));
    auto store = std::make_shared<ParameterStore<T>>();
    tower_.join_store(store, "");
    head_.join_store(store, "head.");
  }

  Graph<T>& tower() { return tower_; }
  const Graph<T>& tower() const { return tower_; }
  bool has_head() const { return has_head_; }
  Graph<T>& head() { return head_; }
  const Graph<T>& head() const { return head_; }

  // The model (model.hpp): the tower's parameters, and the head's when there is one.
  void init(std::uint64_t seed) {
    tower_.init(seed);
    if (has_head_) {
      head_.init(Rng(seed).fork(~std::uint64_t{0}).next());  // a stream of its own
      tower_.mark_initialised();
    }
  }
  void assign(std::span<const T> params, std::span<const T> buffers) {
    tower_.assign(params, buffers);
    if (has_head_) head_.mark_initialised();
  }
  Index num_params() const { return tower_.num_params(); }
  std::span<T> params() { return tower_.params(); }
  std::span<const T> params() const { return tower_.params(); }
  std::span<T> grads() { return tower_.grads(); }
  std::span<const T> grads() const { return tower_.grads(); }
  std::span<T> buffers() { return tower_.buffers(); }
  std::span<const T> buffers() const { return tower_.buffers(); }
  std::vector<NamedTensor> named_tensors() const { return tower_.named_tensors(); }
  std::string architecture() const { return tower_.architecture() + (has_head_ ? head_.architecture() : std::string()); }
  void zero_grad() { tower_.zero_grad(); }

  // Runs the tower over 2 or 3 branches of the same shape (N, ...).
  Embeddings<T> forward(std::initializer_list<TensorView<const T>> branches, SiameseWorkspace<T>& ws, Mode mode,
                        BranchMode how = BranchMode::stacked) const {
    const auto B = static_cast<Index>(branches.size());
    if (B < 2 || B > 3) throw shape_error(detail::concat("SiameseModule::forward: expected 2 or 3 branches, got ", B));
    const Shape in = branches.begin()->shape();
    if (in.rank() < 1) throw shape_error("SiameseModule::forward: branch inputs need a batch dimension");
    for (const auto& b : branches)
      if (!(b.shape() == in))
        throw shape_error(detail::concat("SiameseModule::forward: all branches must have the same shape; got ",
                                         in.str(), " and ", b.shape().str()));
    const Index N = in[0], per = in.sample_size();
    ws.branches_ = B;
    ws.n_ = N;
    ws.mode_ = how;
    TensorView<const T> all;
    if (how == BranchMode::stacked) {
      ws.stacked_.resize(in.with_batch(B * N));
      Index off = 0;
      for (const auto& b : branches) {
        std::copy(b.begin(), b.end(), ws.stacked_.data() + off);
        off += N * per;
      }
      all = tower_.forward_borrowing_input(ws.stacked_.view(), ws.ws_, mode);  // stacked_ lives until backward
    } else {
      if (static_cast<Index>(ws.branch_ws_.size()) != B) {
        ws.branch_ws_.resize(static_cast<std::size_t>(B));
        ws.set_context(ws.exec_);
        ws.on_gradients_ready(ws.grads_ready_);
      }
      Index i = 0;
      for (const auto& b : branches) {
        auto e = tower_.forward(b, ws.branch_ws_[static_cast<std::size_t>(i)], mode);
        if (i == 0) ws.emb_.resize(e.shape().with_batch(B * N));
        std::copy(e.begin(), e.end(), ws.emb_.data() + i * e.size());
        ++i;
      }
      all = ws.emb_.view();
    }
    ws.d_emb_.resize(all.shape());
    ws.has_forward_ = true;
    return {all, B, N};
  }

  // d_embeddings (B N, D): the loss gradient for every branch, in forward's layout.
  // ACCUMULATES into grads(); call zero_grad() once per optimiser step.
  void backward(TensorView<const T> d_embeddings, SiameseWorkspace<T>& ws) const {
    if (!ws.has_forward_) throw error("SiameseModule::backward: no matching forward in this workspace");
    require_shape(d_embeddings.shape(), ws.d_emb_.shape(), "SiameseModule::backward: d_embeddings");
    if (ws.mode_ == BranchMode::stacked) {
      tower_.backward(d_embeddings, ws.ws_);
    } else {
      for (Index i = 0; i < ws.branches_; ++i)
        tower_.backward(d_embeddings.slice(i * ws.n_, ws.n_), ws.branch_ws_[static_cast<std::size_t>(i)]);
    }
  }

  // The head on the embeddings of the last forward: (branch 0, branch 1) -> (N, ...) logits.
  TensorView<const T> head_forward(const Embeddings<T>& e, SiameseWorkspace<T>& ws, Mode mode) const {
    if (!has_head_) throw error("SiameseModule::head_forward: the model has no head");
    const TensorView<const T> ab[2] = {e.branch(0), e.branch(1)};
    return head_.forward(std::span<const TensorView<const T>>(ab, 2), ws.head_ws_, mode);
  }
  // Back-propagates d_logits through the head, ACCUMULATING its parameter gradients, and
  // WRITES the embeddings' gradient of branches 0 and 1 into ws.d_embeddings() (a third
  // branch's rows are zeroed); add other losses' gradients after, then call backward().
  void head_backward(TensorView<const T> d_logits, SiameseWorkspace<T>& ws) const {
    if (!has_head_) throw error("SiameseModule::head_backward: the model has no head");
    head_.backward(d_logits, ws.head_ws_, true);
    auto d = ws.d_embeddings();
    const Index n = ws.n_, per = d.shape().sample_size();
    std::fill(d.begin(), d.end(), T(0));
    for (int i = 0; i < 2; ++i) {
      const auto g = head_.input_grad(ws.head_ws_, i);
      std::copy(g.begin(), g.end(), d.data() + i * n * per);
    }
  }

  // Embeds one batch (N, ...) -> (N, D) for enrolment and search: eval mode, const, and
  // thread-safe with one Workspace per thread.
  TensorView<const T> embed(TensorView<const T> x, Workspace<T>& ws) const { return tower_.forward(x, ws, Mode::eval); }

 private:
  Graph<T> tower_;
  Graph<T> head_;
  bool has_head_ = false;
};

}  // namespace twin
