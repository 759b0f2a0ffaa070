// A group of N ranks as N threads of this process: the Communicator of data-parallel
// training without MPI, for tests of what the ranks compute (sync BN, gradient sums, the
// trainer split across ranks) that must run in every build. Sums run in rank order, so
// they are reproducible like MPI's for a fixed group size. Every call checks that all ranks
// make the same operation with the same count (MPI's rule for collectives): a mismatch
// throws std::logic_error on every rank instead of mixing buffers.
#pragma once
#include <barrier>
#include <cstring>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <thread>
#include <vector>

#include "lowbit/core/communicator.hpp"

namespace lowbit::testing {

class ThreadGroup {
 public:
  explicit ThreadGroup(int n) : n_(n), sync_(n), slots_(static_cast<size_t>(n)), calls_(static_cast<size_t>(n)) {}

  // Runs body(rank's communicator) on n threads; rethrows the lowest rank's exception.
  void run(const std::function<void(Communicator&)>& body) {
    std::vector<std::exception_ptr> errors(static_cast<size_t>(n_));
    std::vector<std::thread> threads;
    for (int r = 0; r < n_; ++r)
      threads.emplace_back([&, r] {
        Rank comm(*this, r);
        try {
          body(comm);
        } catch (...) {
          errors[static_cast<size_t>(r)] = std::current_exception();
        }
      });
    for (auto& t : threads) t.join();
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
  }

 private:
  class Rank final : public Communicator {
   public:
    Rank(ThreadGroup& g, int r) : g_(g), r_(r) {}
    int rank() const override { return r_; }
    int size() const override { return g_.n_; }
    int local_size() const override { return g_.n_; }
    void sum(float* v, int64_t n) override { reduce("sum", v, n, [](float a, float b) { return a + b; }); }
    void sum(double* v, int64_t n) override { reduce("sum", v, n, [](double a, double b) { return a + b; }); }
    void min(float* v, int64_t n) override { reduce("min", v, n, [](float a, float b) { return b < a ? b : a; }); }
    void max(float* v, int64_t n) override { reduce("max", v, n, [](float a, float b) { return b > a ? b : a; }); }
    void broadcast(std::vector<uint8_t>& bytes, int root) override {
      g_.slots_[static_cast<size_t>(r_)] = &bytes;
      arrive("broadcast", root);
      std::vector<uint8_t> copy = *static_cast<std::vector<uint8_t>*>(g_.slots_[static_cast<size_t>(root)]);
      g_.sync_.arrive_and_wait();
      bytes = std::move(copy);
    }
    std::vector<std::string> gather(const std::string& text) override {
      g_.slots_[static_cast<size_t>(r_)] = const_cast<std::string*>(&text);
      arrive("gather", 0);
      std::vector<std::string> all;
      for (void* p : g_.slots_) all.push_back(*static_cast<std::string*>(p));
      g_.sync_.arrive_and_wait();
      return all;
    }

   private:
    // Waits for every rank, then checks that all made this call.
    void arrive(const std::string& op, int64_t n) {
      g_.calls_[static_cast<size_t>(r_)] = op + " " + std::to_string(n);
      g_.sync_.arrive_and_wait();
      for (const std::string& c : g_.calls_)
        if (c != g_.calls_[0]) {
          g_.sync_.arrive_and_wait();  // everyone has compared before anyone leaves
          throw std::logic_error("ranks made different collective calls: " + g_.calls_[0] + " / " + c);
        }
    }
    template <class T, class Op>
    void reduce(const char* what, T* v, int64_t n, Op op) {
      g_.slots_[static_cast<size_t>(r_)] = v;
      arrive(std::string(what) + "/" + typeid(T).name(), n);
      std::vector<T> out(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        T acc = static_cast<T*>(g_.slots_[0])[i];
        for (int k = 1; k < g_.n_; ++k) acc = op(acc, static_cast<T*>(g_.slots_[static_cast<size_t>(k)])[i]);
        out[static_cast<size_t>(i)] = acc;
      }
      g_.sync_.arrive_and_wait();  // every rank has read every input
      if (n) std::memcpy(v, out.data(), sizeof(T) * static_cast<size_t>(n));
    }
    ThreadGroup& g_;
    int r_;
  };

  int n_;
  std::barrier<> sync_;
  std::vector<void*> slots_;
  std::vector<std::string> calls_;
};

}  // namespace lowbit::testing
